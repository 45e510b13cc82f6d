"""Latchkey event contracts: every event on every topic, as immutable Pydantic models.

Pure: depends on pydantic only, so any producer or audit consumer can use it.
"""

from .connector import (
    CommandApplied,
    CommandEvent,
    CommandFailed,
    ConnectorCommand,
    GrantCommand,
    Principal,
    ResultEvent,
    RevokeCommand,
    RotateCommand,
    SyncInventoryCommand,
    canonical_json,
)
from .deadletter import DeadLetter
from .envelope import Event, UtcDatetime, utcnow, uuid7
from .flows import AccessFlowDeleted, AccessFlowUpserted, FlowEvent
from .identity import GroupDeleted, GroupEvent, GroupUpserted, UserDeactivated, UserEvent, UserUpserted
from .inventory import InventoryEvent, InventorySynced, ResourceDiscovered, ResourceRemoved, inventory_key
from .lifecycle import (
    CredentialRotated,
    GrantActivated,
    GrantExtended,
    GrantFailed,
    GrantRequested,
    GrantRevoked,
    GrantRevokeFailed,
    GrantRevokeOverdue,
    GrantRevoking,
    LifecycleEvent,
    RequestApproved,
    RequestCancelled,
    RequestCreated,
    RequestDenied,
    RequestExpired,
    RequestRejected,
    ReviewRecorded,
    ReviewRefused,
)
from .requests import (
    CancelRequested,
    ExtensionRequested,
    RequestEvent,
    RequestSubmitted,
    ReviewApproved,
    ReviewDenied,
    RevokeRequested,
)
from .timers import RevokeOverdue, TimerEvent, TimerFired, TimerKind
from .topics import (
    ALL_TOPICS,
    BY_NAME,
    FLOWS,
    GROUPS,
    INVENTORY,
    LIFECYCLE,
    REQUESTS,
    RESULTS,
    TIMERS,
    USERS,
    Topic,
    connector_commands,
    dead_letters,
)

__all__ = [name for name in dir() if not name.startswith("_")]
