"""`make demo`: the end-to-end story, visibly.

Starts real Kafka and PostgreSQL (deploy/local, or LATCHKEY_TEST_INFRA=external to use running ones),
the four services as processes and a test OIDC issuer; then a requester gets read-only access to a
real database under an automatic flow, uses it, and loses it when the grant ends; then the same with
read-write access under a two-step manual flow. Every step is printed with its timing, and the
lifecycle topic is shown as an auditor would read it. Everything it started is stopped at the end,
on failure and on Ctrl-C.

    uv run python deploy/demo/run.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.panel import Panel  # noqa: E402
from rich.table import Table  # noqa: E402

from latchkey.contracts import RequestCreated  # noqa: E402
from tests.support.scenario import ALICE, CAROL, DAVE, RunningLatchkey, latchkey_running  # noqa: E402
from tests.support.system import Requester, connect_with  # noqa: E402

console = Console()
T0 = time.monotonic()


def step(what: str, seconds: float | None = None) -> None:
    took = f" [dim]({seconds:.1f}s)[/dim]" if seconds is not None else ""
    console.print(f"[dim]{time.monotonic() - T0:6.1f}s[/dim]  [green]✔[/green] {what}{took}")


def note(what: str) -> None:
    console.print(f"[dim]{time.monotonic() - T0:6.1f}s[/dim]  [cyan]→[/cyan] {what}")


def _at_least(event_type: str, count: int) -> Callable[[list[str]], bool]:
    """A wait condition: the request's story holds `count` events of `event_type` or more."""
    return lambda types: types.count(event_type) >= count


async def story(
    running: RunningLatchkey,
    who: tuple[str, str],
    permission: str,
    seconds: int,
    reviewers: list[tuple[str, str]],
) -> str:
    requester = Requester(*who)
    kind = "automatic" if not reviewers else f"{len(reviewers)}-step manual"
    console.rule(f"[bold]{who[1]} asks for {permission} on {running.resource} for {seconds}s ({kind} flow)")
    t = time.monotonic()
    request_id = await running.submit(
        who,
        requester,
        permission=permission,
        duration_seconds=seconds,
        justification="demo: checking order #4711",
    )
    note(f"access.request.submitted {request_id} (ID token from the test IdP, X25519 public key attached)")
    created = await running.wait_for_type(request_id, "access.request.created", 60)
    assert isinstance(created, RequestCreated)
    step(
        f"flow-engine verified the token and matched flow [bold]{created.flow_name}[/bold]",
        time.monotonic() - t,
    )
    for number, reviewer in enumerate(reviewers, 1):
        await running.wait_lifecycle(
            request_id,
            _at_least("access.review.requested", number),
            60,
            f"approval step {number} announced",
        )
        await terminal(running, "latchkey-access", "reviews", who=reviewer)
        t = time.monotonic()
        before = running.lifecycle.types(request_id).count("access.review.recorded")
        await running.approve(request_id, reviewer, "approved in the demo")
        await running.wait_lifecycle(
            request_id,
            _at_least("access.review.recorded", before + 1),
            60,
            f"review by {reviewer[0]}",
        )
        step(f"{reviewer[1]} approved (review recorded)", time.monotonic() - t)
    t = time.monotonic()
    activated = await running.wait_for_type(request_id, "access.grant.activated", 60)
    step("connector applied the template: grant active", time.monotonic() - t)
    credentials = requester.open_sealed(activated.sealed_credentials)  # type: ignore[attr-defined]
    step(f"credentials unsealed with the requester's private key: login [bold]{credentials['user']}[/bold]")
    session = connect_with(credentials)
    count = session.execute("SELECT count(*) FROM orders").fetchone()
    step(f"SELECT count(*) FROM orders → {count[0] if count else '?'}")
    try:
        session.execute("INSERT INTO orders (customer_id, total) VALUES (1, 1.00)")
        step("INSERT INTO orders → allowed (read-write grant)")
    except psycopg.errors.InsufficientPrivilege:
        step("INSERT INTO orders → [red]permission denied[/red] (read-only grant)")
    remaining = (activated.expires_at - datetime.now(UTC)).total_seconds()  # type: ignore[attr-defined]
    note(f"waiting for the grant to end in {remaining:.0f}s (expiry's timer, then a signed revoke command)")
    t = time.monotonic()
    await running.wait_for_type(request_id, "access.grant.revoked", remaining + 60)
    step("grant revoked by the connector", time.monotonic() - t)
    try:
        session.execute("SELECT 1")
        note("[red]the open session still works[/red]")
    except psycopg.OperationalError:
        step("the open session was terminated")
    session.close()
    try:
        connect_with(credentials).close()
        note("[red]the old credentials still log in[/red]")
    except psycopg.OperationalError:
        step("new logins with the old credentials are refused")
    await running.wait_lifecycle(
        request_id, lambda types: "access.credential.rotated" in types, 30, "credential rotated"
    )
    step("credential rotated")
    return request_id


def audit_table(running: RunningLatchkey, request_id: str) -> Table:
    table = Table(title=f"access.lifecycle.v1, key {request_id}", show_lines=False)
    table.add_column("time (UTC)")
    table.add_column("event")
    table.add_column("details")
    for record in running.records_of(request_id):
        event = record.event
        if event is None:
            continue
        details = {
            k: v
            for k, v in event.model_dump(mode="json").items()
            if k
            in (
                "requester_id",
                "flow_name",
                "reviewer_id",
                "step",
                "approver_ids",
                "expires_at",
                "reason",
                "attempt",
            )
            and v not in (None, [], "")
        }
        table.add_row(
            event.occurred_at.strftime("%H:%M:%S.%f")[:-3],
            event.type,
            ", ".join(f"{k}={v}" for k, v in details.items()),
        )
    return table


async def terminal(running: RunningLatchkey, *command: str, who: tuple[str, str] | None = None) -> None:
    """Run a Latchkey console script against the demo system and show it as a terminal would (as
    `who`, signed in with their ID token from the test IdP, when given)."""
    signed_in = {"LATCHKEY_ID_TOKEN": running.token(who)} if who else {}
    console.print(f"[dim]$ {' '.join(command)}[/dim]" + (f"  [dim]({who[1]} signed in)[/dim]" if who else ""))
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / command[0]),
        *command[1:],
        env={
            **os.environ,
            "LATCHKEY_KAFKA_BOOTSTRAP": running.bootstrap,
            "LATCHKEY_TOPIC_PREFIX": running.prefix,
            **signed_in,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    console.print(output.decode().rstrip(), markup=False, highlight=False, soft_wrap=True)
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {process.returncode}")


async def demo(seconds: int) -> None:
    from latchkey.runtime.observability import configure_logging
    from latchkey.runtime.testing import default_mode, start_infra

    configure_logging("demo", "WARNING", json=False)  # the demo's own output is the story

    console.print(
        Panel.fit("[bold]Latchkey[/bold]: just-in-time access, end to end, on real Kafka and PostgreSQL")
    )
    t = time.monotonic()
    note(f"starting Kafka and PostgreSQL ({default_mode()} mode)")
    handle = await asyncio.to_thread(start_infra)
    try:
        step(f"Kafka at {handle.infra.kafka_bootstrap}, PostgreSQL ready", time.monotonic() - t)
        with tempfile.TemporaryDirectory(prefix="latchkey-demo-") as work:
            async with latchkey_running(
                kafka_bootstrap=handle.infra.kafka_bootstrap,
                admin_database_url=handle.infra.admin_database_url,
                work_dir=Path(work),
                step=step,
            ) as running:
                first = await story(running, ALICE, "readonly", seconds, [])
                second = await story(running, DAVE, "readwrite", seconds, [CAROL, ALICE])
                console.rule("[bold]The audit trail: the lifecycle topic alone")
                console.print(audit_table(running, first))
                console.print(audit_table(running, second))
                console.rule("[bold]The same, from a terminal (docs/requesting-access.md, docs/audit.md)")
                await terminal(running, "latchkey-access", "status", first)
                await terminal(running, "latchkey-audit", "report")
            step("services stopped, demo databases dropped")
    finally:
        await asyncio.to_thread(handle.stop)
        step(f"infrastructure stopped; total {time.monotonic() - T0:.0f}s")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the Latchkey end-to-end demo")
    parser.add_argument("--seconds", type=int, default=20, help="grant duration (default 20)")
    args = parser.parse_args()
    # SIGTERM (e.g. from make or CI) unwinds like Ctrl-C, so every finally block stops what it started.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        asyncio.run(demo(args.seconds))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: everything started was stopped[/yellow]")
        return 130
    except Exception as exc:
        console.print(f"[red]demo failed:[/red] {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
