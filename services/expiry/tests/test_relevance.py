"""`concerns_expiry` lets the service skip lifecycle events without a transaction: it must never skip
one that `plan_for_event` would act on, whatever the timer state."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latchkey.contracts import LIFECYCLE, Event, RequestApproved, RequestCreated
from latchkey.expiry.domain import Plan, RetryPolicy, Revocation, concerns_expiry, plan_for_event

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(
    base_delay=timedelta(seconds=5),
    max_delay=timedelta(seconds=300),
    overdue_after_attempts=5,
    reminder_lead=timedelta(minutes=10),
)
LIFECYCLE_EVENTS: tuple[type[Event], ...] = typing.get_args(typing.get_args(LIFECYCLE.events)[0])
AWARE = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC))


def _event(cls: type[Event]) -> st.SearchStrategy[Event]:
    """Any valid instance of `cls` (timestamps timezone-aware, as the contract demands)."""
    times = {
        name: (st.none() | AWARE)
        if field.annotation is not None and "None" in str(field.annotation)
        else AWARE
        for name, field in cls.model_fields.items()
        if "datetime" in str(field.annotation)
    }
    return st.builds(cls, **times)  # type: ignore[arg-type]


REVOCATIONS = st.sampled_from(
    [
        None,
        Revocation(request_id="r", started_at=NOW, attempts=1),
        Revocation(request_id="r", started_at=NOW, attempts=3, closed=True),
    ]
)


@pytest.mark.parametrize("cls", LIFECYCLE_EVENTS, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), revocation=REVOCATIONS)
def test_a_skipped_event_would_have_changed_nothing(
    cls: type[Event], data: st.DataObject, revocation: Revocation | None
) -> None:
    event = data.draw(_event(cls))
    if not concerns_expiry(event):
        assert plan_for_event(event, revocation, NOW, POLICY, lambda: 0.5) == Plan([], revocation)


def test_automatic_creation_and_approval_are_skipped_manual_ones_are_not() -> None:
    created = dict(
        request_id="r1",
        requester_id="u",
        integration_id="i",
        resource="r",
        permission="p",
        duration_seconds=60,
        flow_name="f",
    )
    assert not concerns_expiry(RequestCreated(**created, automatic=True))
    assert concerns_expiry(
        RequestCreated(**created, automatic=False, approval_deadline=NOW + timedelta(hours=1))
    )
    assert not concerns_expiry(RequestApproved(request_id="r1", automatic=True))
    assert concerns_expiry(RequestApproved(request_id="r1", approver_ids=["bob"]))
