"""The AccessFlow document (`apiVersion: latchkey/v1`, `kind: AccessFlow`): who may request what, how it
is approved, for how long, when, and what happens after. Pure pydantic: parsed from YAML by
`documents`, from `access.flows.v1` events by the service."""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import json
import re
from datetime import datetime, time
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

_DURATION = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


def parse_duration(value: Any) -> int:
    """'1h30m', '8h', '2d', '90s' or a number of seconds → seconds (> 0)."""
    if isinstance(value, bool):
        raise ValueError("a duration is text like '1h', '30m', '1h30m' or '2d'")
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.match(str(value).strip())
        if not match or not any(match.groupdict().values()):
            raise ValueError(f"{value!r} is not a duration; write it like '1h', '30m', '1h30m' or '2d'")
        parts = {k: int(v or 0) for k, v in match.groupdict().items()}
        seconds = parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
    if seconds <= 0:
        raise ValueError("a duration must be longer than zero")
    return seconds


def format_duration(seconds: int) -> str:
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


Duration = Annotated[int, BeforeValidator(parse_duration)]
"""Seconds, written in YAML as '1h', '30m', '1h30m', '2d' or plain seconds."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class Requesters(_Spec):
    """Who may ask: user ids or emails, and group ids or names (a name matches only while a single
    synced group has it). Empty on both sides means nobody."""

    users: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _someone(self) -> Requesters:
        if not self.users and not self.groups:
            raise ValueError("requesters needs at least one user or group")
        return self


class ResourceSelector(_Spec):
    """A resource matches when every given criterion matches: name glob, type, all tags."""

    name: str = "*"
    type: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)

    def matches(self, name: str, resource_id: str, resource_type: str, tags: dict[str, str]) -> bool:
        if not (fnmatch.fnmatchcase(name, self.name) or fnmatch.fnmatchcase(resource_id, self.name)):
            return False
        if self.type is not None and self.type != resource_type:
            return False
        return all(tags.get(k) == v for k, v in self.tags.items())


class Access(_Spec):
    integration: str = Field(min_length=1)
    resources: list[ResourceSelector] = Field(min_length=1)
    permissions: list[str] = Field(min_length=1, description="Template names, e.g. readonly")


class Approver(_Spec):
    """Exactly one of: a user (id or email), a group (id, or a name only one synced group has), the
    requester's manager, the owner."""

    user: str | None = None
    group: str | None = None
    manager: bool = False
    owner: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> Approver:
        given = [self.user is not None, self.group is not None, self.manager, self.owner]
        if sum(given) != 1:
            raise ValueError(
                "an approver is exactly one of user: ID, group: NAME, manager: true, owner: true"
            )
        return self

    def describe(self) -> str:
        if self.user is not None:
            return f"user {self.user}"
        if self.group is not None:
            return f"group {self.group}"
        return "the requester's manager" if self.manager else "the resource owner"


class ApprovalStep(_Spec):
    """anyOf: `required` different people, each matching any approver. allOf: every approver matched,
    each by a different person (a group approver by `required` different members)."""

    name: str | None = None
    any_of: list[Approver] | None = None
    all_of: list[Approver] | None = None
    required: int = Field(default=1, ge=1, le=20)

    @model_validator(mode="after")
    def _one_kind(self) -> ApprovalStep:
        if (self.any_of is None) == (self.all_of is None):
            raise ValueError("a step has exactly one of anyOf or allOf")
        if not (self.any_of or self.all_of):
            raise ValueError("a step needs at least one approver")
        return self

    @property
    def approvers(self) -> list[Approver]:
        return list(self.any_of or self.all_of or [])

    def describe(self, index: int) -> str:
        kind = "any of" if self.any_of is not None else "all of"
        who = ", ".join(a.describe() for a in self.approvers)
        label = self.name or f"step {index + 1}"
        count = f" ({self.required} needed)" if self.required > 1 else ""
        return f"{label}: {kind} {who}{count}"


class Approval(_Spec):
    automatic: bool = False
    steps: list[ApprovalStep] = Field(default_factory=list)
    timeout: Duration = Field(default=24 * 3600, description="Pending requests expire after this")

    @model_validator(mode="after")
    def _automatic_xor_steps(self) -> Approval:
        if self.automatic and self.steps:
            raise ValueError("approval is either automatic: true or a list of steps, not both")
        if not self.automatic and not self.steps:
            raise ValueError("approval needs automatic: true or at least one step")
        return self


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WORKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")


class ScheduleWindow(_Spec):
    weekdays: list[Weekday] = Field(default_factory=lambda: list(WORKDAYS))
    hours: str = Field(default="00:00-24:00", description="HH:MM-HH:MM, local time of the schedule")

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        match = re.fullmatch(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})", value)
        if not match:
            raise ValueError("hours are written HH:MM-HH:MM, e.g. 08:00-18:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0) or (h1, m1) >= (h2, m2):
            raise ValueError("hours must be a valid range within one day, start before end")
        return value

    def contains(self, local: datetime) -> bool:
        if WEEKDAYS[local.weekday()] not in self.weekdays:
            return False
        start, end = self.hours.split("-")
        now = local.time()
        begin = time.fromisoformat(start)
        return begin <= now and (end == "24:00" or now < time.fromisoformat(end))


class OutsideSchedule(StrEnum):
    deny = "deny"
    extra_step = "extraStep"


class Schedule(_Spec):
    timezone: str = "UTC"
    windows: list[ScheduleWindow] = Field(min_length=1)
    outside: OutsideSchedule = OutsideSchedule.deny
    extra_step: ApprovalStep | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}; use an IANA name like Europe/Berlin") from None
        return value

    @model_validator(mode="after")
    def _extra_step_given(self) -> Schedule:
        if self.outside is OutsideSchedule.extra_step and self.extra_step is None:
            raise ValueError("outside: extraStep needs an extraStep (the approval asked for out of hours)")
        return self

    def allows(self, now: datetime) -> bool:
        local = now.astimezone(ZoneInfo(self.timezone))
        return any(window.contains(local) for window in self.windows)

    def describe(self) -> str:
        spans = "; ".join(f"{','.join(w.weekdays)} {w.hours}" for w in self.windows)
        return f"{spans} ({self.timezone})"


class Extension(_Spec):
    allowed: bool = False
    max_total: Duration | None = Field(default=None, description="Total extra time over the grant's life")
    requires_approval: bool = False


class Credentials(_Spec):
    rotate_after_revoke: bool = False


class Justification(StrEnum):
    required = "required"
    optional = "optional"


class FlowSpec(_Spec):
    requesters: Requesters
    access: Access
    approval: Approval
    allow_self_approval: bool = False
    default_duration: Duration = 3600
    max_duration: Duration = 8 * 3600
    justification: Justification = Justification.optional
    schedule: Schedule | None = None
    extension: Extension = Field(default_factory=Extension)
    credentials: Credentials = Field(default_factory=Credentials)

    @model_validator(mode="after")
    def _durations(self) -> FlowSpec:
        if self.default_duration > self.max_duration:
            raise ValueError("defaultDuration must not be longer than maxDuration")
        return self


class FlowMetadata(_Spec):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$")
    description: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class AccessFlow(_Spec):
    """One Access Flow document."""

    api_version: Literal["latchkey/v1"]
    kind: Literal["AccessFlow"]
    metadata: FlowMetadata
    spec: FlowSpec

    @property
    def name(self) -> str:
        return self.metadata.name

    @cached_property
    def _document(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)

    def document(self) -> dict[str, Any]:
        """The document as JSON-compatible data with the YAML field names (what `apply` publishes)."""
        return copy.deepcopy(self._document)

    def shared_document(self) -> dict[str, Any]:
        """`document()` without the copy, for callers that only read or serialise it."""
        return self._document

    @cached_property
    def digest(self) -> str:
        return flow_digest(self._document)

    def group_references(self) -> set[str]:
        """Every group this flow names (requesters, approval steps, the out-of-hours step): ids, or
        names, which match only while one synced group has the name."""
        spec = self.spec
        steps = list(spec.approval.steps)
        if spec.schedule is not None and spec.schedule.extra_step is not None:
            steps.append(spec.schedule.extra_step)
        approvers = {a.group for step in steps for a in step.approvers if a.group is not None}
        return set(spec.requesters.groups) | approvers


def flow_digest(document: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a flow document: equal digests mean a no-op apply."""
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
