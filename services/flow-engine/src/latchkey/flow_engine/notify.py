"""Notifications: the lifecycle events people must act on or know about, posted to a webhook.

Enabled by LATCHKEY_NOTIFY_WEBHOOK_URL (a Slack-compatible incoming webhook, or any endpoint taking
JSON). flow-engine then reads `access.lifecycle.v1` in a consumer group of its own
(`flow-engine.notify`), so a slow or failing webhook delays notifications and nothing else. By default
it posts what needs a person: a request waiting for reviewers, an extension waiting for reviewers, each
later approval step as it opens (naming who may review it), a grant that failed, a revocation that is
overdue (LATCHKEY_NOTIFY_EVENTS changes the list).

Delivery is at least once. A webhook that is unreachable, rate-limits (429) or fails (5xx) gets the
batch again after a backoff, for as long as it takes; within a process an event already accepted is
not posted again. A webhook that refuses an event (another 4xx) sends that event to the lifecycle
dead-letter topic with the status, so `latchkey-dlq replay` can retry it once the hook is fixed. The
URL is a credential: it is never logged, and no error message carries it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import httpx

from latchkey.contracts import Event, RequestCreated, ReviewRequested
from latchkey.runtime import Batch, TransientError
from latchkey.runtime.observability import get_logger

from .settings import FlowEngineSettings
from .story import describe

log = get_logger(__name__)

REMEMBERED = 10_000
"""Event ids a process remembers as posted (a redelivered batch does not post them again)."""


class Notifier:
    def __init__(self, settings: FlowEngineSettings) -> None:
        assert settings.notify_webhook_url is not None
        self._url = settings.notify_webhook_url
        self._format = settings.notify_format
        self._events = frozenset(settings.notify_events)
        self._client: httpx.AsyncClient | None = None
        self._posted: OrderedDict[Any, None] = OrderedDict()
        self.posted = 0

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=10.0)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def wanted(self, event: Event) -> bool:
        if event.type not in self._events:
            return False
        if isinstance(event, ReviewRequested) and event.step == 0 and not event.update:
            # the first step opens with the request (or extension), whose post says what was asked
            opener = "access.grant.extension_requested" if event.extension else "access.request.created"
            return opener not in self._events
        # an automatic request needs no one: its activation follows at once
        return not (isinstance(event, RequestCreated) and event.automatic)

    @staticmethod
    def text(event: Event) -> str:
        """The message a person reads (one line; sealed credentials are never part of it)."""
        request_id = getattr(event, "request_id", "?")
        if isinstance(event, RequestCreated):
            who = event.requester_email or event.requester_id
            why = f' — "{event.justification}"' if event.justification else ""
            deadline = (
                f"; answer by {event.approval_deadline:%Y-%m-%d %H:%M} UTC" if event.approval_deadline else ""
            )
            return (
                f"{who} {describe(event).removeprefix('requested ')}{why}{deadline}."
                f" Review: latchkey-access approve {request_id} (or deny {request_id} -r WHY)"
            )
        if event.type in ("access.grant.extension_requested", "access.review.requested"):
            return f"request {request_id}: {describe(event)}. Review: latchkey-access approve {request_id}"
        return f"request {request_id}: {describe(event)}"

    def payload(self, event: Event) -> dict[str, Any]:
        text = self.text(event)
        if self._format == "slack":
            return {"text": text}
        return {"text": text, "event": event.model_dump(mode="json", exclude={"sealed_credentials"})}

    async def on_lifecycle(self, batch: Batch[Any]) -> None:
        client = self._client
        if client is None:
            raise TransientError("notifier not started")
        for item in batch.items:
            event = item.event
            if event is None or not self.wanted(event) or event.event_id in self._posted:
                continue
            try:
                response = await client.post(self._url.get_secret_value(), json=self.payload(event))
            except httpx.HTTPError as exc:
                raise TransientError(f"notification webhook unreachable ({type(exc).__name__})") from None
            status = response.status_code
            if status == 429 or status >= 500:
                raise TransientError(f"notification webhook answered HTTP {status}; retrying")
            if status >= 400:
                batch.dead_letter(item, f"notification webhook refused it: HTTP {status}", "NotifyRefused")
                continue
            self._posted[event.event_id] = None
            if len(self._posted) > REMEMBERED:
                self._posted.popitem(last=False)
            self.posted += 1
            log.info(
                "notification posted", event_type=event.type, request_id=getattr(event, "request_id", None)
            )
