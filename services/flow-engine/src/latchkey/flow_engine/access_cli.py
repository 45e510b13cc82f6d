"""`latchkey-access`: ask for access, review, and follow a request, from a terminal.

    latchkey-access request INTEGRATION RESOURCE PERMISSION --for 1h -j "ticket #4711"
    latchkey-access approve REQUEST_ID            (deny, cancel, extend --by 30m, revoke)
    latchkey-access status REQUEST_ID [--follow]
    latchkey-access credentials REQUEST_ID
    latchkey-access reviews                       (what waits for your review)

It publishes the same events a web frontend does to `access.requests.v1` and reads the request's
story back from `access.lifecycle.v1` (only the partition its id hashes to). Who you are comes from
your OIDC ID token, which flow-engine verifies: give it as LATCHKEY_ID_TOKEN or --id-token-file
(getting one, e.g. with your IdP's device flow, is up to your IdP's tooling).

Credentials a grant issues are sealed to an X25519 key kept in LATCHKEY_KEY_FILE (default
~/.config/latchkey/requester.key, created on first use, mode 0600); only this machine can open them.
They are printed to standard output, never logged. Kafka is configured like every service
(LATCHKEY_KAFKA_BOOTSTRAP, LATCHKEY_TOPIC_PREFIX).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka import TopicPartition
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox
from pydantic import Field, SecretStr, ValidationError

from latchkey.contracts import (
    LIFECYCLE,
    REQUESTS,
    CancelRequested,
    Event,
    ExtensionRequested,
    GrantActivated,
    GrantRevoking,
    RequestSubmitted,
    ReviewApproved,
    ReviewDenied,
    RevokeRequested,
    uuid7,
)
from latchkey.contracts.audit import FINAL_TYPES, OPEN, AccessRecord
from latchkey.runtime import ServiceSettings
from latchkey.runtime.cli_support import (
    CONNECT_SECONDS,
    KAFKA_ERRORS,
    CliError,
    load_settings,
    reader,
    run_cli,
    topic_partitions,
    unreachable,
)
from latchkey.runtime.kafka import make_producer, partition_for

from .audit_cli import Format, read_ledger, render
from .domain.flow import parse_duration
from .signin import check_private, claims_of, device_login, signed_in_token, write_private
from .story import describe, local_time

cli = typer.Typer(
    name="latchkey-access",
    help="Ask for just-in-time access, review requests, and follow them.",
    epilog="Each command explains itself: latchkey-access COMMAND --help",
    rich_markup_mode="markdown",
    add_completion=False,
    no_args_is_help=True,
)

EXIT_ENDED = 1
"""The request ended without access (rejected, denied, cancelled, expired, failed, revoked)."""
EXIT_TIMEOUT = 4
"""--wait gave up before the request ended or became active."""


class AccessSettings(ServiceSettings):
    service_name: str = "latchkey-access"
    id_token: SecretStr | None = Field(default=None, description="Your OIDC ID token")
    id_token_file: Path | None = Field(default=None, description="A file holding your OIDC ID token")
    key_file: Path = Field(
        default=Path("~/.config/latchkey/requester.key"),
        description="Your X25519 key (base64); credentials are sealed to its public half",
    )
    oidc_issuer: str | None = Field(default=None, description="Your IdP's issuer URL (for login)")
    oidc_client_id: str = Field(
        default="latchkey", description="The client id login signs in with: the audience flow-engine expects"
    )
    token_file: Path = Field(
        default=Path("~/.config/latchkey/id-token"), description="Where login keeps your ID token"
    )


def _settings() -> AccessSettings:
    return load_settings(AccessSettings)


def id_token(settings: AccessSettings, token_file: Path | None) -> str:
    """The ID token from --id-token-file, LATCHKEY_ID_TOKEN_FILE, LATCHKEY_ID_TOKEN, or `login`."""
    path = token_file or settings.id_token_file
    if path is not None:
        try:
            token = path.expanduser().read_text().strip()
        except OSError as exc:
            raise CliError(f"cannot read the ID token file {path}: {exc.strerror}") from None
    elif settings.id_token is not None and settings.id_token.get_secret_value().strip():
        token = settings.id_token.get_secret_value().strip()
    else:
        kept = signed_in_token(settings.token_file)
        if kept is None:
            raise CliError("not signed in: run latchkey-access login (or set LATCHKEY_ID_TOKEN)")
        token = kept
    if not token:
        raise CliError("the ID token is empty")
    return token


def load_key(path: Path, *, create: bool) -> PrivateKey:
    """The requester's X25519 key at `path`; created (0600) when missing and `create`.

    Refused when others can read it, like ssh does: whoever reads the key can open the credentials."""
    path = path.expanduser()
    if not path.exists():
        if not create:
            raise CliError(f"no key at {path}: credentials are sealed to the key the request was made with")
        key = PrivateKey.generate()
        write_private(path, base64.b64encode(bytes(key)).decode() + "\n")
        typer.echo(f"created your key {path} (credentials are sealed to it)", err=True)
        return key
    check_private(path)
    try:
        return PrivateKey(base64.b64decode(path.read_text().strip(), validate=True))
    except (ValueError, TypeError):
        raise CliError(f"{path} is not a Latchkey key (32 bytes, base64)") from None


def public_key(key: PrivateKey) -> str:
    return base64.b64encode(bytes(key.public_key)).decode()


def open_credentials(key: PrivateKey, sealed: str) -> dict[str, Any]:
    try:
        return dict(json.loads(SealedBox(key).decrypt(base64.b64decode(sealed))))
    except (CryptoError, ValueError):
        raise CliError("the credentials are sealed to another key than yours (another machine?)") from None


# -- Kafka -----------------------------------------------------------------------------------------


async def publish(settings: AccessSettings, event: Event) -> None:
    producer = make_producer(settings, linger_ms=0, request_timeout_ms=15_000)
    try:
        await asyncio.wait_for(producer.start(), CONNECT_SECONDS)
        await producer.send_and_wait(
            settings.topic(REQUESTS.name),
            event.model_dump_json().encode(),
            key=REQUESTS.key_of(event).encode(),
        )
    except KAFKA_ERRORS as exc:
        raise unreachable(settings, exc) from None
    finally:
        await producer.stop()


class Story:
    """The lifecycle events of one request, read from the partition its id hashes to."""

    def __init__(self, settings: AccessSettings, request_id: str) -> None:
        self._settings = settings
        self.request_id = request_id
        self._topic = settings.topic(LIFECYCLE.name)
        self._partition: TopicPartition | None = None

    async def __aenter__(self) -> Story:
        partitions = await topic_partitions(self._settings, self._topic)
        self._consumer = reader(self._settings)
        try:
            await asyncio.wait_for(self._consumer.start(), CONNECT_SECONDS)
        except KAFKA_ERRORS as exc:
            await self._consumer.stop()
            raise unreachable(self._settings, exc) from None
        number = partition_for(self.request_id.encode(), len(partitions))
        self._partition = TopicPartition(self._topic, number)
        self._consumer.assign([self._partition])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def end(self) -> int:
        """The partition's current end offset (where events not yet written will be)."""
        assert self._partition is not None
        return int((await self._consumer.end_offsets([self._partition]))[self._partition])

    async def events(self, *, start: int | None = None, follow: bool) -> AsyncIterator[Event]:
        """The request's events from offset `start` (default: the beginning). Without `follow`, stops
        at the end of what is written now; with it, goes on until the story ends."""
        assert self._partition is not None
        if start is None:
            await self._consumer.seek_to_beginning(self._partition)
        else:
            self._consumer.seek(self._partition, start)
        stop_at = None if follow else await self.end()
        while stop_at is None or await self._consumer.position(self._partition) < stop_at:
            batches = await self._consumer.getmany(self._partition, timeout_ms=500, max_records=500)
            for record in batches.get(self._partition, []):
                if record.key is None or record.key.decode(errors="replace") != self.request_id:
                    continue
                if record.value is None:
                    continue
                try:
                    event = LIFECYCLE.parse(record.value)
                except (ValidationError, ValueError):
                    continue  # malformed: the topic's consumers dead-letter it; the story goes on
                yield event
                if follow and event.type in FINAL_TYPES:
                    return


# -- commands --------------------------------------------------------------------------------------

TokenFile = Annotated[
    Path | None, typer.Option("--id-token-file", help="File with your OIDC ID token (else LATCHKEY_ID_TOKEN)")
]
Reason = Annotated[str | None, typer.Option("--reason", "-r", help="Why (recorded in the audit story)")]


def _duration(value: str | None, option: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


async def _follow(
    story: Story, start: int | None, timeout: float, key: PrivateKey | None, *, until_active: bool
) -> int:
    """Print the request's story from offset `start` (None: the partition's beginning); with
    `until_active`, stop once it is active (printing the credentials). Returns the exit code."""

    async def read() -> int:
        async for event in story.events(start=start, follow=True):
            # while waiting for credentials, standard output is kept for them alone
            typer.echo(f"{local_time(event.occurred_at)}  {describe(event)}", err=until_active)
            if isinstance(event, GrantActivated) and until_active:
                if event.sealed_credentials and key is not None:
                    print(json.dumps(open_credentials(key, event.sealed_credentials), indent=2))
                return 0
            if event.type in FINAL_TYPES:
                return EXIT_ENDED if until_active else 0
            if until_active and isinstance(event, GrantRevoking) and event.reason == "failed":
                return EXIT_ENDED  # no access will come; the story goes on until the revoke is confirmed
        return 0

    try:
        return await asyncio.wait_for(read(), timeout)
    except TimeoutError:
        typer.echo(
            f"still waiting after {timeout:.0f}s;"
            f" follow it with: latchkey-access status {story.request_id} --follow",
            err=True,
        )
        return EXIT_TIMEOUT


@cli.command()
def request(
    integration: Annotated[str, typer.Argument(help="Integration id, e.g. appdb")],
    resource: Annotated[str, typer.Argument(help="Resource name, e.g. schema:appdb.public")],
    permission: Annotated[str, typer.Argument(help="Permission (template) name, e.g. readonly")],
    duration: Annotated[
        str | None, typer.Option("--for", help="How long: 30m, 1h, 1h30m, 2d (default: the flow's)")
    ] = None,
    justification: Annotated[
        str | None, typer.Option("--justification", "-j", help="Why you need it")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Follow the request until it is active or has ended")
    ] = True,
    timeout: Annotated[float, typer.Option(help="Seconds --wait follows the request")] = 900.0,
    id_token_file: TokenFile = None,
) -> None:
    """Ask for PERMISSION on RESOURCE of INTEGRATION.

    With --wait (the default) each step is printed to standard error as it happens, and once the grant
    is active the credentials it issued are printed as JSON on standard output (and nowhere else).
    With --no-wait only the request id is printed, on standard output.

    Exit status: 0 active (or submitted, with --no-wait), 1 ended without access, 2 usage or
    connection error, 4 still pending after --timeout."""
    seconds = _duration(duration, "--for")
    settings = _settings()

    async def work() -> int:
        token = id_token(settings, id_token_file)
        key = load_key(settings.key_file, create=True)
        request_id = str(uuid7())
        event = RequestSubmitted(
            request_id=request_id,
            id_token=token,
            integration_id=integration,
            resource=resource,
            permission=permission,
            duration_seconds=seconds,
            justification=justification,
            requester_public_key=public_key(key),
            producer=settings.service_name,
            correlation_id=request_id,
        )
        if not wait:
            await publish(settings, event)
            typer.echo(request_id)  # for scripts: the only thing on standard output
            return 0
        async with Story(settings, request_id) as story:
            start = await story.end()  # its story starts after what is written now
            await publish(settings, event)
            typer.echo(f"request {request_id} submitted", err=True)
            return await _follow(story, start, timeout, key, until_active=True)

    code = run_cli(work)
    raise typer.Exit(code)


def _act(kind: type[Event], request_id: str, id_token_file: Path | None, done: str, **fields: Any) -> None:
    """Publish a `kind` event about `request_id` under the person's ID token; flow-engine judges it."""
    settings = _settings()

    async def work() -> None:
        token = id_token(settings, id_token_file)
        await publish(
            settings, kind(request_id=request_id, id_token=token, correlation_id=request_id, **fields)
        )

    run_cli(work)
    typer.echo(f"{done}; the outcome shows in: latchkey-access status {request_id}", err=True)


@cli.command()
def approve(
    request_id: Annotated[str, typer.Argument(help="The request to approve")],
    reason: Reason = None,
    id_token_file: TokenFile = None,
) -> None:
    """Approve the current step of a pending request (or a pending extension) as its reviewer."""
    _act(ReviewApproved, request_id, id_token_file, "approval sent", reason=reason)


@cli.command()
def deny(
    request_id: Annotated[str, typer.Argument(help="The request to deny")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (the requester reads it)")],
    id_token_file: TokenFile = None,
) -> None:
    """Deny a pending request (or a pending extension) as its reviewer; that ends it."""
    _act(ReviewDenied, request_id, id_token_file, "denial sent", reason=reason)


@cli.command()
def cancel(
    request_id: Annotated[str, typer.Argument(help="Your pending request")],
    reason: Reason = None,
    id_token_file: TokenFile = None,
) -> None:
    """Withdraw your request while it is still pending."""
    _act(CancelRequested, request_id, id_token_file, "cancel sent", reason=reason)


@cli.command()
def extend(
    request_id: Annotated[str, typer.Argument(help="Your active grant's request")],
    by: Annotated[str, typer.Option("--by", help="How much longer: 30m, 1h, ...")],
    justification: Annotated[str | None, typer.Option("--justification", "-j", help="Why")] = None,
    id_token_file: TokenFile = None,
) -> None:
    """Ask to keep an active grant longer; the flow's extension policy decides (it may need approval)."""
    seconds = _duration(by, "--by")
    assert seconds is not None
    _act(
        ExtensionRequested,
        request_id,
        id_token_file,
        "extension asked",
        extra_seconds=seconds,
        justification=justification,
    )


@cli.command()
def revoke(
    request_id: Annotated[str, typer.Argument(help="The active grant's request")],
    reason: Reason = None,
    id_token_file: TokenFile = None,
) -> None:
    """End an active grant now (its requester, or an admin)."""
    _act(RevokeRequested, request_id, id_token_file, "revoke asked", reason=reason)


@cli.command()
def login(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for your approval")] = 600.0,
) -> None:
    """Sign in with your IdP (the device flow: open the URL shown, sign in, approve the code). The ID
    token is kept in LATCHKEY_TOKEN_FILE (0600) and used by the other commands until it expires."""
    settings = _settings()
    if not settings.oidc_issuer:
        raise typer.BadParameter("set LATCHKEY_OIDC_ISSUER to your IdP's issuer URL", param_hint="login")
    issuer = settings.oidc_issuer

    def prompt(uri: str, code: str, complete: str | None) -> None:
        typer.echo(f"To sign in, open {complete or uri} and confirm the code {code}", err=True)

    async def work() -> str:
        return await device_login(issuer, settings.oidc_client_id, prompt, timeout=timeout)

    token = run_cli(work)
    path = settings.token_file.expanduser()
    write_private(path, token + "\n")
    claims = claims_of(token)
    who = claims.get("email") or claims.get("sub")
    until = f" until {local_time(datetime.fromtimestamp(claims['exp'], UTC))}" if "exp" in claims else ""
    typer.echo(f"signed in as {who}{until} (token kept in {path})", err=True)


@cli.command()
def logout() -> None:
    """Forget the ID token `login` kept."""
    path = _settings().token_file.expanduser()
    path.unlink(missing_ok=True)
    typer.echo(f"signed out ({path} removed)", err=True)


@cli.command()
def status(
    request_id: Annotated[str, typer.Argument(help="The request")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the story ends")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --follow waits")] = 3600.0,
) -> None:
    """Print the request's story from the lifecycle topic, one line per step.

    Exit status: 0 found (with --follow: the story ended), 1 no event for that id (yet), 2 usage or
    connection error, 4 --follow timed out."""
    settings = _settings()

    async def work() -> int:
        if follow:
            async with Story(settings, request_id) as story:
                return await _follow(story, None, timeout, None, until_active=False)
        seen = 0
        async with Story(settings, request_id) as story:
            async for event in story.events(follow=False):
                seen += 1
                typer.echo(f"{local_time(event.occurred_at)}  {describe(event)}")
        if not seen:
            typer.echo(f"no events for {request_id} (yet)", err=True)
            return EXIT_ENDED
        return 0

    raise typer.Exit(run_cli(work))


@cli.command()
def mine(
    everything: Annotated[bool, typer.Option("--all", help="Also the requests that have ended")] = False,
    id_token_file: TokenFile = None,
) -> None:
    """Your requests that are still open (pending, granting, active, being revoked), one line each,
    from the lifecycle topic; --all adds the ended ones."""
    settings = _settings()

    async def work() -> list[AccessRecord]:
        claims = claims_of(id_token(settings, id_token_file))  # only to pick your requests out
        ledger, _ = await read_ledger(settings)
        me = {claims.get("sub"), claims.get("email")} - {None}
        return [
            r
            for r in ledger.records()
            if (r.requester_id in me or r.requester_email in me) and (everything or r.outcome in OPEN)
        ]

    records = run_cli(work)
    if records:
        typer.echo(render(records, Format.table))
    typer.echo(f"{len(records)} {'requests' if everything else 'open requests'}", err=True)


@cli.command()
def reviews(id_token_file: TokenFile = None) -> None:
    """Requests and extensions waiting for your review (the approval step open now names you), one
    line each, from the lifecycle topic. Answer with `latchkey-access approve REQUEST_ID` or `deny`."""
    settings = _settings()

    async def work() -> list[AccessRecord]:
        claims = claims_of(id_token(settings, id_token_file))  # only to pick your reviews out
        ledger, _ = await read_ledger(settings)
        return [r for r in ledger.records() if r.outcome in OPEN and _names_me(r, claims)]

    records = run_cli(work)
    for record in records:
        typer.echo(_review_line(record))
    typer.echo(f"{len(records)} waiting for your review", err=True)


def _names_me(record: AccessRecord, claims: dict[str, Any]) -> bool:
    """Whether the open step of `record` names the person of these token claims (by the user id
    identity-sync knows, which is usually the token's subject, Entra ID's `oid`, or else by email).
    Only a filter of what to show: flow-engine decides who may review, by its own rules."""
    if record.awaiting_step is None:
        return False
    email = str(claims.get("email") or "").lower()
    return bool({claims.get("sub"), claims.get("oid")} & set(record.awaiting_reviewers)) or (
        bool(email) and email in (e.lower() for e in record.awaiting_reviewer_emails)
    )


def _review_line(record: AccessRecord) -> str:
    who = record.requester_email or record.requester_id or "?"
    until = f"; answer by {local_time(record.awaiting_until)}" if record.awaiting_until else ""
    why = f' — "{record.justification}"' if record.justification else ""
    return (
        f"{record.request_id}  {who}: {record.permission} on {record.resource} ({record.integration_id})"
        f"{why} — {record.awaiting_step}{until}"
    )


@cli.command()
def credentials(request_id: Annotated[str, typer.Argument(help="Your active grant's request")]) -> None:
    """Print the credentials your grant issued (JSON), opened with your key."""
    settings = _settings()

    async def work() -> int:
        key = load_key(settings.key_file, create=False)
        activated: GrantActivated | None = None
        async with Story(settings, request_id) as story:
            async for event in story.events(follow=False):
                if isinstance(event, GrantActivated):
                    activated = event
        if activated is None:
            raise CliError(f"{request_id} has no active grant (see: latchkey-access status {request_id})")
        if not activated.sealed_credentials:
            raise CliError("this grant issued no credentials (the integration grants to your own identity)")
        print(json.dumps(open_credentials(key, activated.sealed_credentials), indent=2))
        return 0

    raise typer.Exit(run_cli(work))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
