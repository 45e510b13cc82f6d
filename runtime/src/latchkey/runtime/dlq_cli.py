"""`latchkey-dlq`: look at what a consumer refused, and put it back once the cause is fixed.

    latchkey-dlq list access.requests.v1 [--error-type HandlerError] [--format json]
    latchkey-dlq replay access.requests.v1 --offset 17 --offset 18 [--dry-run]
    latchkey-dlq replay access.requests.v1 --error-type HandlerError

Every consumer writes what it cannot accept to `<topic>.dlq` as a `dlq.record`: the original key,
value and headers, where it came from, which consumer group refused it and why (docs/operations.md).
`replay` publishes the original key, value and headers back to the source topic, unchanged; the
handlers are idempotent on `event_id`, so a record replayed twice is processed once. Kafka is
configured like every service (LATCHKEY_KAFKA_BOOTSTRAP, LATCHKEY_TOPIC_PREFIX).
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import typer
from pydantic import ValidationError

from latchkey.contracts import DeadLetter

from .cli_support import (
    CONNECT_SECONDS,
    KAFKA_ERRORS,
    CliError,
    load_settings,
    read_to_end,
    run_cli,
    unreachable,
)
from .consuming import TRUNCATED_REASON
from .kafka import make_producer
from .settings import ServiceSettings

cli = typer.Typer(
    name="latchkey-dlq",
    help="List dead-lettered records of a topic and replay them to it once the cause is fixed.",
    rich_markup_mode="markdown",
    add_completion=False,
    no_args_is_help=True,
)


class DlqSettings(ServiceSettings):
    service_name: str = "latchkey-dlq"


class Format(StrEnum):
    table = "table"
    json = "json"


@dataclass(frozen=True)
class Letter:
    """One record of a dead-letter topic: where it sits there, and what it says."""

    partition: int
    offset: int
    record: DeadLetter

    @property
    def value(self) -> bytes | None:
        return base64.b64decode(self.record.value_b64) if self.record.value_b64 is not None else None

    @property
    def key(self) -> bytes | None:
        return base64.b64decode(self.record.key_b64) if self.record.key_b64 is not None else None

    @property
    def headers(self) -> list[tuple[str, bytes]]:
        return [(name, base64.b64decode(value)) for name, value in self.record.headers.items()]

    @property
    def truncated(self) -> bool:
        return self.record.reason.startswith(TRUNCATED_REASON)

    def summary(self) -> dict[str, object]:
        """What `list` shows: everything but the original bytes (a refused request carries an ID token)."""
        value = self.value
        return {
            "dlq_offset": f"{self.partition}:{self.offset}",
            "at": self.record.occurred_at.isoformat(),
            "consumer": self.record.consumer,
            "error_type": self.record.error_type,
            "source": f"{self.record.source_topic}[{self.record.partition}]@{self.record.offset}",
            "key": self.key.decode(errors="replace") if self.key is not None else None,
            "value_bytes": len(value) if value is not None else None,
            "reason": self.record.reason,
        }


def _dlq_topic(settings: ServiceSettings, topic: str) -> str:
    name = topic.removeprefix(settings.topic_prefix)
    return settings.topic(name if name.endswith(".dlq") else f"{name}.dlq")


async def read_letters(settings: ServiceSettings, topic: str) -> tuple[list[Letter], int]:
    """Every record of `topic`'s dead-letter topic up to its end as of now; and how many records there
    were not dead letters (counted, skipped)."""
    letters: list[Letter] = []
    foreign = 0
    async for record in read_to_end(settings, _dlq_topic(settings, topic)):
        try:
            letter = DeadLetter.model_validate_json(record.value)
        except (ValidationError, ValueError, TypeError):
            foreign += 1
            continue
        letters.append(Letter(record.partition, record.offset, letter))
    letters.sort(key=lambda letter: (letter.record.occurred_at, letter.partition, letter.offset))
    return letters, foreign


def _select(
    letters: list[Letter], offsets: list[str], error_type: str | None, consumer: str | None
) -> list[Letter]:
    wanted = set(offsets)
    return [
        letter
        for letter in letters
        if (not wanted or f"{letter.partition}:{letter.offset}" in wanted or str(letter.offset) in wanted)
        and (error_type is None or letter.record.error_type == error_type)
        and (consumer is None or letter.record.consumer == consumer)
    ]


Topic = Annotated[str, typer.Argument(help="The source topic (e.g. access.requests.v1) or its .dlq")]
ErrorType = Annotated[
    str | None, typer.Option("--error-type", help="Only this error_type (e.g. HandlerError, ValidationError)")
]
Consumer = Annotated[str | None, typer.Option("--consumer", help="Only records this consumer group refused")]


@cli.command("list")
def list_(
    topic: Topic,
    error_type: ErrorType = None,
    consumer: Consumer = None,
    form: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
) -> None:
    """One line per dead letter: where it sits (PARTITION:OFFSET, what --offset takes), when, which
    consumer refused it, the error type, where it came from and why. The original value is not shown
    (a refused request carries the requester's ID token); its size is."""
    settings = load_settings(DlqSettings)
    letters, foreign = run_cli(lambda: read_letters(settings, topic))
    chosen = _select(letters, [], error_type, consumer)
    if form is Format.json:
        typer.echo(json.dumps([letter.summary() for letter in chosen], indent=2))
    else:
        for letter in chosen:
            s = letter.summary()
            typer.echo(
                f"{s['dlq_offset']:>8}  {s['at']}  {s['consumer']}  {s['error_type']}  {s['source']}"
                f"  key={s['key']}  {s['value_bytes']} bytes\n          {s['reason']}"
            )
    note = f"{len(chosen)} of {len(letters)} dead letters in {_dlq_topic(settings, topic)}"
    if foreign:
        note += f"; {foreign} records there are not dead letters"
    typer.echo(note, err=True)


@cli.command()
def replay(
    topic: Topic,
    offset: Annotated[
        list[str] | None,
        typer.Option("--offset", help="PARTITION:OFFSET (or OFFSET) from `list`; repeatable"),
    ] = None,
    error_type: ErrorType = None,
    consumer: Consumer = None,
    everything: Annotated[bool, typer.Option("--all", help="Replay every dead letter of the topic")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be replayed; send nothing")
    ] = False,
) -> None:
    """Publish the selected dead letters' original key, value and headers back to their source topic.

    Say which: --offset, --error-type, --consumer, or --all. Records whose value was cut to fit the DLQ
    are never replayed (their bytes are incomplete). Replay only after fixing what refused them: a
    record refused again goes back to the DLQ."""
    if not (offset or error_type or consumer or everything):
        raise typer.BadParameter("say what to replay: --offset, --error-type, --consumer or --all")
    settings = load_settings(DlqSettings)

    async def work() -> int:
        letters, _ = await read_letters(settings, topic)
        chosen = _select(letters, offset or [], error_type, consumer)
        if offset:
            found = {f"{letter.partition}:{letter.offset}" for letter in chosen} | {
                str(letter.offset) for letter in chosen
            }
            missing = [o for o in offset if o not in found]
            if missing:
                raise CliError(f"no dead letter at {', '.join(missing)} (see: latchkey-dlq list {topic})")
        whole = [letter for letter in chosen if not letter.truncated]
        for letter in chosen:
            if letter.truncated:
                typer.echo(
                    f"skipped {letter.partition}:{letter.offset}: its value was truncated in the DLQ",
                    err=True,
                )
        if dry_run or not whole:
            for letter in whole:
                typer.echo(f"would replay {letter.partition}:{letter.offset} → {letter.record.source_topic}")
            return len(whole)
        producer = make_producer(settings, linger_ms=0)
        try:
            await asyncio.wait_for(producer.start(), CONNECT_SECONDS)
            for letter in whole:
                await producer.send_and_wait(
                    letter.record.source_topic, letter.value, key=letter.key, headers=letter.headers
                )
                typer.echo(f"replayed {letter.partition}:{letter.offset} → {letter.record.source_topic}")
        except KAFKA_ERRORS as exc:
            raise unreachable(settings, exc) from None
        finally:
            await producer.stop()
        return len(whole)

    count = run_cli(work)
    typer.echo(f"{count} record(s) {'to replay' if dry_run else 'replayed'}", err=True)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
