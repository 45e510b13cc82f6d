"""The topic registry: every topic Latchkey uses, what it carries, how it is keyed and kept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from .connector import CommandEvent, ResultEvent
from .deadletter import DeadLetter
from .envelope import Event
from .flows import FlowEvent
from .identity import GroupEvent, UserEvent
from .inventory import InventoryEvent, ResourceDiscovered, ResourceRemoved, inventory_key
from .lifecycle import LifecycleEvent
from .requests import RequestEvent
from .timers import TimerEvent


def _attr(name: str) -> Callable[[Event], str]:
    def key(event: Event) -> str:
        return str(getattr(event, name))

    key.__name__ = f"key_{name}"
    return key


def _inventory_key(event: Event) -> str:
    if isinstance(event, ResourceDiscovered | ResourceRemoved):
        return inventory_key(event.integration_id, event.resource_id)
    return f"{getattr(event, 'integration_id', '')}/_sync"


@dataclass(frozen=True)
class Topic:
    """One topic: `name` is the base name (a deployment may prefix it), `events` the union it carries."""

    name: str
    events: Any  # an Annotated discriminated union of Event subclasses
    key_field: str
    compacted: bool = False
    partitions: int = 3
    key_of: Callable[[Event], str] = field(default=None, repr=False)  # type: ignore[assignment]
    description: str = ""

    def __post_init__(self) -> None:
        if self.key_of is None:
            object.__setattr__(self, "key_of", _attr(self.key_field))
        object.__setattr__(self, "_adapter", TypeAdapter(self.events))

    @property
    def adapter(self) -> TypeAdapter[Any]:
        return self.__dict__["_adapter"]  # type: ignore[no-any-return]

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"

    def parse(self, value: bytes | str) -> Event:
        """Parse one message value into its event; raises pydantic.ValidationError on bad input."""
        return self.adapter.validate_json(value)  # type: ignore[no-any-return]

    def event_types(self) -> list[type[Event]]:
        """The concrete event classes this topic carries."""
        union = self.events.__origin__ if hasattr(self.events, "__origin__") else self.events
        return list(getattr(union, "__args__", (union,)))


USERS = Topic(
    "identity.users.v1", UserEvent, "user_id", compacted=True, description="identity-sync → flow-engine"
)
GROUPS = Topic(
    "identity.groups.v1", GroupEvent, "group_id", compacted=True, description="identity-sync → flow-engine"
)
FLOWS = Topic("access.flows.v1", FlowEvent, "name", compacted=True, description="admin tools → flow-engine")
REQUESTS = Topic(
    "access.requests.v1", RequestEvent, "request_id", description="web frontends, CLI → flow-engine"
)
LIFECYCLE = Topic(
    "access.lifecycle.v1",
    LifecycleEvent,
    "request_id",
    description="flow-engine → audit, expiry, notifications",
)
RESULTS = Topic("connector.results.v1", ResultEvent, "grant_id", description="connectors → flow-engine")
INVENTORY = Topic(
    "inventory.v1",
    InventoryEvent,
    "resource_id",
    compacted=True,
    key_of=_inventory_key,
    description="connectors → flow-engine",
)
TIMERS = Topic("expiry.timers.v1", TimerEvent, "request_id", description="expiry → flow-engine")

_COMMANDS_PATTERN = "connector.{connector_id}.commands.v1"


def connector_commands(connector_id: str) -> Topic:
    """The command topic of one connector: every replica of `connector_id` shares its consumer group."""
    return Topic(
        _COMMANDS_PATTERN.format(connector_id=connector_id),
        CommandEvent,
        "grant_id",
        description=f"flow-engine → connector {connector_id}",
    )


def dead_letters(source: Topic) -> Topic:
    """The dead-letter topic of `source`."""
    return Topic(
        source.dlq, DeadLetter, "source_topic", partitions=1, description=f"refused input of {source.name}"
    )


ALL_TOPICS: tuple[Topic, ...] = (USERS, GROUPS, FLOWS, REQUESTS, LIFECYCLE, RESULTS, INVENTORY, TIMERS)
"""Every fixed topic. Command topics are per connector: see `connector_commands`."""

BY_NAME: dict[str, Topic] = {topic.name: topic for topic in ALL_TOPICS}
