"""The event loop a service runs on: uvloop by default, asyncio's own when asked or when uvloop is
not installed (it has no Windows build)."""

from __future__ import annotations

import sys

import pytest
import structlog

from latchkey.runtime.service import loop_name, run_on
from latchkey.runtime.settings import ServiceSettings


async def _which() -> str:
    return loop_name()


def test_the_default_setting_names_uvloop_and_asyncio_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LATCHKEY_EVENT_LOOP", raising=False)
    assert ServiceSettings().event_loop == "uvloop"
    monkeypatch.setenv("LATCHKEY_EVENT_LOOP", "asyncio")
    assert ServiceSettings().event_loop == "asyncio"
    monkeypatch.setenv("LATCHKEY_EVENT_LOOP", "trio")
    with pytest.raises(ValueError, match="event_loop"):
        ServiceSettings()


def test_run_on_runs_the_coroutine_on_the_loop_it_names() -> None:
    assert run_on("uvloop", _which()) == "uvloop"
    assert run_on("asyncio", _which()) == "asyncio"


def test_without_uvloop_installed_the_service_says_so_and_runs_on_asyncio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` now raises ImportError
    with structlog.testing.capture_logs() as logs:
        assert run_on("uvloop", _which()) == "asyncio"
    assert [entry["event"] for entry in logs] == ["uvloop is not installed: running on asyncio's event loop"]
