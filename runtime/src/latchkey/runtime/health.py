"""Liveness and readiness over HTTP (`/livez`, `/readyz`), and the `health` command that asks them."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Awaitable, Callable

from .observability import get_logger

log = get_logger(__name__)

Check = Callable[[], Awaitable[bool]]


class HealthServer:
    """A tiny HTTP server: /livez answers while the process runs, /readyz when every check passes.

    Both answers name the service and the replica (`identity`), so whoever probes a port can tell
    that the process answering is the one they meant."""

    def __init__(self, host: str, port: int, identity: dict[str, str] | None = None) -> None:
        self.host = host
        self.port = port
        self.identity = dict(identity or {})
        self.checks: dict[str, Check] = {}
        self.ready = False
        self._server: asyncio.Server | None = None

    def add_check(self, name: str, check: Check) -> None:
        self.checks[name] = check

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("health endpoint listening", url=f"http://{self.host}:{self.port}/readyz")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def report(self) -> tuple[bool, dict[str, bool]]:
        results: dict[str, bool] = {}
        for name, check in self.checks.items():
            try:
                results[name] = bool(await asyncio.wait_for(check(), 5.0))
            except Exception:
                results[name] = False
        return self.ready and all(results.values()), results

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5.0)
            path = request.split()[1].decode() if len(request.split()) > 1 else "/"
            body: dict[str, object]
            if path.startswith("/livez"):
                status, body = 200, {"status": "alive", **self.identity}
            elif path.startswith("/readyz"):
                ok, checks = await self.report()
                status, body = (
                    (200 if ok else 503),
                    {"status": "ready" if ok else "not ready", "checks": checks, **self.identity},
                )
            else:
                status, body = 404, {"error": "try /livez or /readyz"}
            payload = json.dumps(body).encode()
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()


def probe(
    host: str, port: int, path: str = "/readyz", timeout: float = 3.0, *, instance: str | None = None
) -> tuple[bool, str]:
    """Ask a running service; returns (healthy, the body or the error). With `instance`, healthy also
    means that this replica is the one answering, not another process that holds its port."""
    url = f"http://{host}:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read().decode()
            return response.status == 200 and instance in (None, _instance_of(body)), body
    except urllib.error.HTTPError as exc:
        return False, exc.read().decode()
    except OSError as exc:
        return False, f"cannot reach {url}: {exc}"


def _instance_of(body: str) -> object:
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    return answer.get("instance") if isinstance(answer, dict) else None
