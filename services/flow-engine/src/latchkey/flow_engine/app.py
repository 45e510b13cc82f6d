"""flow-engine's wiring: read models from identity, inventory and flows; requests, reviews, connector
results and timers move each request's state machine. Each batch is one transaction (inbox marks,
state, lifecycle events and signed commands together); decisions are made in `domain/`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from latchkey.contracts import (
    FLOWS,
    GROUPS,
    INVENTORY,
    LIFECYCLE,
    REQUESTS,
    RESULTS,
    TIMERS,
    USERS,
    AccessFlowDeleted,
    AccessFlowUpserted,
    ActionRefused,
    CancelRequested,
    CommandApplied,
    CommandFailed,
    ConnectorCommand,
    Event,
    ExtensionRequested,
    GrantExtensionRequested,
    GroupDeleted,
    GroupUpserted,
    InventorySynced,
    RequestCreated,
    RequestDenied,
    RequestRejected,
    RequestSubmitted,
    ResourceDiscovered,
    ResourceRemoved,
    ReviewApproved,
    ReviewDenied,
    Reviewer,
    ReviewRecorded,
    ReviewRefused,
    ReviewRequested,
    RevokeOverdue,
    RevokeRequested,
    TimerFired,
    Topic,
    UserDeactivated,
    UserUpserted,
    connector_commands,
    utcnow,
)
from latchkey.contracts.lifecycle import MAX_REVIEWERS
from latchkey.runtime import Batch, CommandSigner, Service, UnitOfWork
from latchkey.runtime.db import Read, read_one, read_together
from latchkey.runtime.kafka import ensure_topics
from latchkey.runtime.observability import get_logger

from .domain.approval import (
    Counted,
    ReviewContext,
    ReviewerChanges,
    eligible_entries,
    may_change_reviewers,
    record_review,
)
from .domain.flow import AccessFlow, flow_digest
from .domain.grant import (
    REVOCABLE,
    AccessRequest,
    Ballot,
    CommandWindow,
    GrantState,
    IllegalTransition,
    Refusal,
    may_have_applied,
)
from .domain.identity import Identity, Person, Unmatched, find_person, matching_keys
from .domain.matching import AccessAsk, NoMatch, match_request
from .notify import Notifier
from .settings import FlowEngineSettings
from .store import FlowEngineStore
from .tokens import InvalidToken, TokenVerifier

log = get_logger(__name__)

SCHEMA = "flow_engine"
PRODUCER = "flow-engine"
DECISIONS_GROUP = f"{PRODUCER}.decisions"
"""The consumer group that reads requests and connector results together."""
REVIEW_EVENTS = (ReviewApproved, ReviewDenied)


@dataclass
class Outcome:
    """What one batch decided: lifecycle events and commands to emit, requests to save."""

    events: list[Event] = field(default_factory=list)
    commands: list[ConnectorCommand] = field(default_factory=list)
    changed: dict[str, AccessRequest] = field(default_factory=dict)

    def add(self, request: AccessRequest | None, events: Iterable[Event]) -> None:
        self.events.extend(events)
        if request is not None:
            self.changed[request.request_id] = request


@dataclass
class OpenReviews:
    """Requests with an approval step open that a batch may concern, and who could review each."""

    requests: dict[str, AccessRequest]
    reviewers: dict[str, list[Reviewer]]


def _waiting(requests: Iterable[AccessRequest]) -> list[tuple[AccessRequest, Ballot]]:
    """The requests that have a step open, each with what a review would count towards."""
    return [(request, ballot) for request in requests if (ballot := request.ballot()) is not None]


def _review_context(
    request: AccessRequest, people: dict[str, Person], owners: dict[tuple[str, str], frozenset[str]]
) -> ReviewContext:
    """What judging a reviewer of `request` needs: its requester, the resource's owners, the flow's rule."""
    requester = people.get(request.requester_id) or Person(request.requester_id, request.requester_email)
    return ReviewContext(
        requester,
        owners.get((request.integration_id, request.resource_id), frozenset()),
        request.flow.spec.allow_self_approval,
    )


def _opened_steps(events: Iterable[Event]) -> dict[str, dict[tuple[bool, int], Any]]:
    """Per request, the approval steps these lifecycle events opened, keyed (extension, step), with
    the id of the event that caused the opening: a manual request's first step, the extension's first
    step, and the step after each one completed."""
    opened: dict[str, dict[tuple[bool, int], Any]] = {}
    for event in events:
        if isinstance(event, RequestCreated) and not event.automatic:
            key: tuple[bool, int] | None = (False, 0)
        elif isinstance(event, GrantExtensionRequested):
            key = (True, 0)
        elif isinstance(event, ReviewRecorded) and event.step_complete:
            key = (event.extension, event.step + 1)
        else:
            key = None
        if key is not None:
            opened.setdefault(event.request_id, {})[key] = event.causation_id  # type: ignore[attr-defined]
    return opened


class FlowEngine:
    """The flow-engine service: build it from settings, then `service.run()` (or app.start() in tests)."""

    def __init__(self, settings: FlowEngineSettings, *, configure_process: bool = True) -> None:
        self.settings = settings
        self.service = Service(
            settings,
            topics=[USERS, GROUPS, FLOWS, REQUESTS, LIFECYCLE, RESULTS, INVENTORY, TIMERS],
            schema=SCHEMA,
            migrations="latchkey.flow_engine.migrations",
            configure_process=configure_process,
        )
        self.store = FlowEngineStore(SCHEMA)
        self.signer = CommandSigner(settings.private_key(), settings.signing_key_id)
        self.tokens = TokenVerifier(
            settings.oidc_issuer, settings.oidc_audience, jwks_url=settings.oidc_jwks_url
        )
        # Which IdP decides who may ask: a forgotten LATCHKEY_OIDC_ISSUER shows here, not as every
        # token refused.
        log.info(
            "ID tokens trusted",
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            jwks_url=settings.oidc_jwks_url,
            signing_key_id=settings.signing_key_id,
            trust_unverified_email=settings.oidc_trust_unverified_email,
        )
        if settings.oidc_trust_unverified_email:
            log.warning(
                "requesters may be matched by an email the identity provider did not verify"
                " (LATCHKEY_OIDC_TRUST_UNVERIFIED_EMAIL): unsafe with Entra ID and with any IdP whose"
                " users or guests choose their email address"
            )
        self.window = CommandWindow(settings.command_validity_seconds, settings.revoke_confirm_seconds)
        self._trust_unverified_email = settings.oidc_trust_unverified_email
        self._flows: dict[str, tuple[str, AccessFlow]] = {}
        self._command_topics: set[str] = set()
        self._topics: dict[str, Topic] = {}
        self.decisions = 0
        subscriptions = [
            (USERS, self.on_users),
            (GROUPS, self.on_groups),
            (INVENTORY, self.on_inventory),
            (FLOWS, self.on_flows),
            (TIMERS, self.on_timers),
        ]
        for topic, handler in subscriptions:
            # One consumer group per topic: a rebalance of one input never pauses the others.
            self.service.subscribe(topic, handler, group_id=f"{PRODUCER}.{topic.name}")
        # Except requests and connector results: in a steady stream every poll brings both, and one
        # transaction handles them together (`_decide`). Earlier versions read them in a group each;
        # this group starts where those stopped.
        self.service.subscribe(
            [REQUESTS, RESULTS],
            self.on_requests_and_results,
            group_id=DECISIONS_GROUP,
            adopt_offsets_from=[f"{PRODUCER}.{REQUESTS.name}", f"{PRODUCER}.{RESULTS.name}"],
            # A steady stream then comes in fewer, larger batches: each batch costs a transaction, a
            # relay pass and a trip through the consumer, whatever its size (docs/flow-engine.md).
            linger_ms=settings.decisions_linger_ms,
        )
        self.service.on_startup(self._prepare_command_topics)
        self.notifier: Notifier | None = None
        if settings.notify_webhook_url is not None:
            self.notifier = Notifier(settings)
            # its own group, from the latest event on first start: enabling it posts no history
            self.service.subscribe(
                LIFECYCLE, self.notifier.on_lifecycle, group_id=f"{PRODUCER}.notify", from_beginning=False
            )
            self.service.on_startup(self.notifier.start)
            self.service.on_shutdown(self.notifier.stop)

    # -- plumbing ---------------------------------------------------------------------------------
    def _uow(self) -> UnitOfWork:
        return self.service.unit_of_work()

    def _write(self, uow: UnitOfWork, outcome: Outcome) -> None:
        for event in outcome.events:
            uow.emit(LIFECYCLE, event)
        for command in outcome.commands:
            uow.emit(self._command_topic(command.connector_id), self.signer.sign(command))

    def _command_topic(self, connector_id: str) -> Topic:
        # Building a Topic compiles its pydantic union: do it once per connector, not per command.
        topic = self._topics.get(connector_id)
        if topic is None:
            topic = self._topics[connector_id] = connector_commands(connector_id)
        return topic

    async def _ensure_command_topics(self, connector_ids: Iterable[str]) -> None:
        missing = set(connector_ids) - self._command_topics
        if missing:
            await ensure_topics(self.settings, [connector_commands(c) for c in sorted(missing)])
            self._command_topics |= missing

    async def _prepare_command_topics(self) -> None:
        async with self._uow() as uow:
            known = await self.store.connector_ids(uow.session)
        await self._ensure_command_topics(known)

    async def _current_flows(self, uow: UnitOfWork, digests: dict[str, str]) -> list[AccessFlow]:
        """The flows in force, in name order, from their current `digests` (read for every batch:
        another replica may have applied a change); a document is read and parsed again only when its
        digest moved."""
        changed = sorted(
            name for name, digest in digests.items() if self._flows.get(name, ("",))[0] != digest
        )
        documents = await self.store.flow_documents(uow.session, changed) if changed else {}
        flows: dict[str, tuple[str, AccessFlow]] = {}
        for name in sorted(digests):
            document = documents.get(name)
            if document is None and name in changed:
                continue  # deleted between the two reads: gone for this batch
            flows[name] = (
                self._flows[name]
                if document is None
                else (digests[name], AccessFlow.model_validate(document))
            )
        self._flows = flows
        return [f for _, f in flows.values()]

    # -- read models ------------------------------------------------------------------------------
    async def on_users(self, batch: Batch[Any]) -> None:
        async with self._uow() as uow:
            fresh = {e.event_id for e in await uow.fresh("users", batch.events)}
            new = [e for e in batch.events if e.event_id in fresh]
            changes = ReviewerChanges(
                users={e.user_id for e in new if isinstance(e, UserUpserted | UserDeactivated)}
                | {item.key for item in batch.items if item.event is None and item.key},
                emails={e.email.lower() for e in new if isinstance(e, UserUpserted) and e.email},
            )
            leaving = list(
                dict.fromkeys(
                    e.user_id
                    for e in new
                    if isinstance(e, UserDeactivated) or (isinstance(e, UserUpserted) and not e.active)
                )
            )
            # the open steps and the leaving people's requests, locked together (one lock order)
            locked = await self.store.lock_open_requests(uow.session, leaving) if changes else None
            before = await self._reviews_before(uow, changes, locked.awaiting if locked else None)
            latest: dict[str, dict[str, Any]] = {}
            for item in batch.items:
                event = item.event
                if event is None:
                    if item.key:
                        latest.pop(item.key, None)
                        await self.store.delete_user(uow.session, item.key)
                elif event.event_id not in fresh:
                    continue
                elif isinstance(event, UserUpserted):
                    latest[event.user_id] = {
                        "user_id": event.user_id,
                        "email": event.email,
                        "active": event.active,
                        "manager_id": event.manager_id,
                    }
                elif isinstance(event, UserDeactivated):
                    row = latest.get(event.user_id)
                    if row is not None:
                        row["active"] = False
            await self.store.upsert_users(uow.session, list(latest.values()))
            # Someone known from an earlier batch: flip the flag (never invent a user row).
            await self.store.deactivate_users(uow.session, [u for u in leaving if u not in latest])
            outcome = Outcome()
            cause_of = {e.user_id: e for e in batch.events if isinstance(e, UserUpserted | UserDeactivated)}
            for user_id in leaving:
                open_requests = locked.of_requester.get(user_id, []) if locked else []
                self._end_access_of(user_id, open_requests, cause_of[user_id], outcome)
            await self._reviews_after(uow, batch, fresh, before, outcome)
            await self.store.save_requests(uow, outcome.changed.values())
            self._write(uow, outcome)

    async def _reviews_before(
        self,
        uow: UnitOfWork,
        changes: ReviewerChanges,
        awaiting: dict[str, AccessRequest] | None = None,
    ) -> OpenReviews | None:
        """Before a batch of identity or inventory changes: the open review steps they may concern
        and their reviewers (None when the batch changes nothing: every event was processed before).
        `awaiting`: the requests with a step open, when the caller has locked them already."""
        if not changes:
            return None
        if awaiting is None:
            awaiting = (await self.store.lock_open_requests(uow.session)).awaiting
        return await self._open_reviews(uow.session, changes, awaiting)

    async def _reviews_after(
        self,
        uow: UnitOfWork,
        batch: Batch[Any],
        fresh: set[Any],
        before: OpenReviews | None,
        outcome: Outcome,
    ) -> None:
        """After them: announce again the steps whose reviewers changed (caused by the batch's first
        new event; a tombstone alone has none)."""
        if before is not None:
            cause = next((e for e in batch.events if e.event_id in fresh), None)
            await self._announce_changed_reviewers(uow.session, before, outcome, cause)

    def _end_access_of(
        self, user_id: str, open_requests: list[AccessRequest], cause: Event, outcome: Outcome
    ) -> None:
        """A deactivated user (`open_requests`: theirs, locked): pending requests are cancelled, live
        grants revoked at once."""
        now = utcnow()
        for request in open_requests:
            if request.state is GrantState.pending:
                outcome.add(
                    request, request.cancel("the requester was deactivated in the identity provider", cause)
                )
            elif request.state is GrantState.active:
                command, events = request.start_revoke("deactivated", 1, now, self.window, cause)
                outcome.commands.append(command)
                outcome.add(request, events)
            # granting: revoked as soon as the connector confirms the grant (see _decide)
        log.info("requester deactivated", user_id=user_id, ended=len(outcome.changed))

    async def on_groups(self, batch: Batch[Any]) -> None:
        async with self._uow() as uow:
            fresh = {e.event_id for e in await uow.fresh("groups", batch.events)}
            new = [e for e in batch.events if e.event_id in fresh]
            changes = ReviewerChanges(
                groups={e.group_id for e in new if isinstance(e, GroupUpserted | GroupDeleted)}
                | {e.name for e in new if isinstance(e, GroupUpserted)}
                | {item.key for item in batch.items if item.event is None and item.key}
            )
            before = await self._reviews_before(uow, changes)
            names: set[str] = set()
            if changes:  # the names the batch may make shared, or unique again: as they are and will be
                names = {e.name for e in new if isinstance(e, GroupUpserted)}
                names |= await self.store.group_names(uow.session, changes.groups - names)
            shared_before = await self.store.shared_group_names(uow.session, names) if names else {}
            for item in batch.items:
                event = item.event
                if event is None:
                    if item.key:
                        await self.store.delete_group(uow.session, item.key)
                elif event.event_id not in fresh:
                    continue
                elif isinstance(event, GroupUpserted):
                    await self.store.replace_group(uow.session, event.group_id, event.name, event.member_ids)
                elif isinstance(event, GroupDeleted):
                    await self.store.delete_group(uow.session, event.group_id)
            if names:
                shared_after = await self.store.shared_group_names(uow.session, names)
                await self._report_shared_names(uow, shared_before, shared_after)
            outcome = Outcome()
            await self._reviews_after(uow, batch, fresh, before, outcome)
            self._write(uow, outcome)

    async def _report_shared_names(
        self,
        uow: UnitOfWork,
        before: dict[str, tuple[str, ...]],
        after: dict[str, tuple[str, ...]],
    ) -> None:
        """Log each group name that a batch made shared by several groups (or changed which groups
        share), once per change: a flow or setting naming it now matches none of them. A warning when
        a flow in force or LATCHKEY_ADMIN_GROUPS names it, a note otherwise (directories have many
        same-named groups no flow cares about)."""
        changed = {name: ids for name, ids in after.items() if before.get(name) != ids}
        for name in sorted(before.keys() - after.keys()):
            log.info("group name no longer shared; flows may name it again", group_name=name)
        if not changed:
            return
        # Rare (a name became shared): read the flows here rather than through the decisions' cache,
        # which only the decisions consumer may update.
        digests = await read_one(uow.session, self.store.flow_digests_read())
        documents = await self.store.flow_documents(uow.session, sorted(digests))
        naming: dict[str, list[str]] = {}
        for name, document in sorted(documents.items()):
            for reference in AccessFlow.model_validate(document).group_references() & changed.keys():
                naming.setdefault(reference, []).append(name)
        for name, ids in sorted(changed.items()):
            flows = naming.get(name, [])
            admin = name in self.settings.admin_groups
            report = log.warning if flows or admin else log.info
            report(
                "group name shared by several groups: flows and settings that name a group by it match"
                " none of them; name the group by id",
                group_name=name,
                group_ids=list(ids),
                flows=flows,
                admin_groups_setting=admin,
            )

    async def on_inventory(self, batch: Batch[Any]) -> None:
        await self._ensure_command_topics(
            e.connector_id for e in batch.events if isinstance(e, ResourceDiscovered | InventorySynced)
        )
        async with self._uow() as uow:
            fresh = {e.event_id for e in await uow.fresh("inventory", batch.events)}
            new = [e for e in batch.events if e.event_id in fresh]
            removed = [(item.key or "").partition("/") for item in batch.items if item.event is None]
            changes = ReviewerChanges(  # resource owners may review
                resources={
                    (e.integration_id, e.resource_id)
                    for e in new
                    if isinstance(e, ResourceDiscovered | ResourceRemoved)
                }
                | {(integration, resource) for integration, _, resource in removed if resource}
            )
            before = await self._reviews_before(uow, changes)
            for item in batch.items:
                event = item.event
                if event is None:
                    integration, _, resource = (item.key or "").partition("/")
                    if resource and resource != "_sync":
                        await self.store.delete_resource(uow.session, integration, resource)
                elif event.event_id not in fresh:
                    continue
                elif isinstance(event, ResourceDiscovered):
                    await self.store.upsert_integration(
                        uow.session, event.integration_id, event.connector_id, event.integration_type
                    )
                    await self.store.upsert_resources(
                        uow.session,
                        [
                            {
                                "integration_id": event.integration_id,
                                "resource_id": event.resource_id,
                                "connector_id": event.connector_id,
                                "name": event.name,
                                "resource_type": event.resource_type,
                                "permissions": event.permissions,
                                "owner_ids": event.owner_ids,
                                "tags": event.tags,
                            }
                        ],
                    )
                elif isinstance(event, ResourceRemoved):
                    await self.store.delete_resource(uow.session, event.integration_id, event.resource_id)
                elif isinstance(event, InventorySynced):
                    await self.store.upsert_integration(
                        uow.session, event.integration_id, event.connector_id, event.integration_type
                    )
            outcome = Outcome()
            await self._reviews_after(uow, batch, fresh, before, outcome)
            self._write(uow, outcome)

    async def on_flows(self, batch: Batch[Any]) -> None:
        async with self._uow() as uow:
            fresh = {e.event_id for e in await uow.fresh("flows", batch.events)}
            for item in batch.items:
                event = item.event
                if event is None:
                    if item.key:
                        await self.store.delete_flow(uow.session, item.key)
                elif event.event_id not in fresh:
                    continue
                elif isinstance(event, AccessFlowUpserted):
                    try:
                        flow = AccessFlow.model_validate(event.spec)
                    except ValidationError as exc:
                        problems = "; ".join(
                            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
                        )
                        batch.dead_letter(
                            item, f"AccessFlow {event.name} is invalid: {problems}", "InvalidFlow"
                        )
                        continue
                    if flow.name != event.name:
                        batch.dead_letter(
                            item,
                            f"event name {event.name} differs from metadata.name {flow.name}",
                            "InvalidFlow",
                        )
                        continue
                    document = flow.document()
                    await self.store.upsert_flow(uow.session, flow.name, document, flow_digest(document))
                    log.info("access flow applied", flow=flow.name, by=event.applied_by)
                    shared = await self.store.shared_group_names(uow.session, flow.group_references())
                    for name, ids in sorted(shared.items()):
                        log.warning(
                            "access flow names a group by a name several groups share; the reference"
                            " matches none of them: name the group by id",
                            flow=flow.name,
                            group_name=name,
                            group_ids=list(ids),
                        )
                elif isinstance(event, AccessFlowDeleted):
                    await self.store.delete_flow(uow.session, event.name)
                    log.info("access flow deleted", flow=event.name, by=event.applied_by)

    # -- requests and reviews ---------------------------------------------------------------------
    async def _identities(self, events: Sequence[Any]) -> dict[Any, Identity | InvalidToken]:
        out: dict[Any, Identity | InvalidToken] = {}
        for event in events:
            try:
                out[event.event_id] = await self.tokens.verify(event.id_token)
            except InvalidToken as exc:
                out[event.event_id] = exc
        return out

    async def on_requests_and_results(self, batch: Batch[Any]) -> None:
        """Requests and connector results polled together: one transaction for both (see `_decide`)."""
        requests_topic = self.settings.topic(REQUESTS.name)
        asked: list[Any] = []
        results: list[Any] = []
        for item in batch.items:
            if item.event is not None:
                (asked if item.topic == requests_topic else results).append(item.event)

        def refuse(event: Any, reason: str) -> None:
            # rare (a forged or misrouted result): find its record only then, not for every batch
            item = next(i for i in batch.items if i.event is not None and i.event.event_id == event.event_id)
            batch.dead_letter(item, reason, "ResultRefused")

        await self._decide(asked, results, refuse)

    async def _decide(
        self,
        asked: Sequence[Any],
        results: Sequence[Any],
        refuse_result: Callable[[Any, str], None] | None = None,
    ) -> None:
        """Apply request events (`asked`: submissions, reviews, requester actions) and connector
        results in one transaction. In a steady stream a poll brings both kinds; handled together
        they cost one transaction, one outbox relay pass and one consumer pass instead of two each.
        Every request either kind names is locked by one statement, in request id order, as in every
        other batch."""
        identities = await self._identities(asked)
        subjects: list[str] = []
        emails: list[str] = []
        for identity in identities.values():
            if isinstance(identity, Identity):
                ids, usable = matching_keys(identity, trust_unverified_email=self._trust_unverified_email)
                subjects += ids
                emails += usable
        submissions = [e for e in asked if isinstance(e, RequestSubmitted)]
        async with self._uow() as uow:
            session = uow.session
            # Everything the decisions need, read in one round trip (for every request named in the
            # batch: a repeated event's request is locked too, harmlessly).
            inboxes = [uow.inbox("results", results)] if results else []
            if asked:
                inboxes.append(uow.inbox("requests", asked))
            lock = self.store.lock_requests_and_activity_read(
                [*(e.request_id for e in asked), *(e.grant_id for e in results)]
            )
            extra: list[Read[Any]] = []
            if asked:
                extra = [
                    self.store.people_read(subjects, emails),
                    self.store.find_resources_read((e.integration_id, e.resource) for e in submissions),
                    self.store.flow_digests_read(),
                ]
            found = await read_together(session, *inboxes, lock, *extra)
            fresh_results: list[Any] = found.pop(0) if results else []
            fresh_asked: list[Any] = found.pop(0) if asked else []
            requests, active = found.pop(0)
            if not fresh_asked and not fresh_results:
                return
            outcome = Outcome()
            now = utcnow()
            if fresh_asked:
                people, resources, digests = found
                await self._apply_asks(
                    uow, fresh_asked, identities, requests, people, resources, digests, now, outcome
                )
            for event in fresh_results:
                request = requests.get(event.grant_id)
                if request is None:
                    log.warning("result for an unknown grant", grant_id=event.grant_id)
                    continue
                if event.connector_id != request.connector_id:
                    # Only the connector a grant's commands went to can report on it: a result from
                    # another (forged, or a connector of another environment on this bus) changes nothing.
                    reason = (
                        f"result from connector {event.connector_id!r} for grant {event.grant_id}, whose "
                        f"commands go to {request.connector_id!r}"
                    )
                    log.warning("result from the wrong connector refused", reason=reason)
                    if refuse_result is not None:
                        refuse_result(event, reason)
                    continue
                if request.last_command_id is not None and event.command_id != request.last_command_id:
                    # The result of an earlier command (a revoke attempt since retried) or of a command
                    # flow-engine never sent: the grant waits for its latest command's result.
                    log.info(
                        "result of a command that is not the grant's latest; no change",
                        request_id=request.request_id,
                        command_id=event.command_id,
                        latest_command_id=request.last_command_id,
                    )
                    continue
                try:
                    self._apply_result(event, request, active.get(request.requester_id, True), now, outcome)
                except IllegalTransition as exc:
                    log.warning("illegal transition refused", request_id=request.request_id, error=str(exc))
            await self.store.save_requests(uow, outcome.changed.values())
            self._write(uow, outcome)

    async def _apply_asks(
        self,
        uow: UnitOfWork,
        events: Sequence[Any],
        identities: dict[Any, Identity | InvalidToken],
        requests: dict[str, AccessRequest],
        people: dict[str, Person],
        resources: dict[tuple[str, str], Any],
        digests: dict[str, str],
        now: Any,
        outcome: Outcome,
    ) -> None:
        session = uow.session
        named = {e.request_id for e in events}
        asked_about = {i: r for i, r in requests.items() if i in named}  # not the results' requests
        requesters = {r.requester_id for r in asked_about.values()} - people.keys()
        if requesters:  # reviews and actions on requests of people not acting in this batch
            people.update(await self.store.people(session, requesters))
        submitted = [e for e in events if isinstance(e, RequestSubmitted)]
        flows = await self._current_flows(uow, digests) if submitted else []
        owners = await self.store.owners(
            session, ((r.integration_id, r.resource_id) for r in asked_about.values())
        )
        for event in events:
            identity = identities[event.event_id]
            actor: Person | Unmatched | None = None
            if isinstance(identity, Identity):
                actor = find_person(identity, people, trust_unverified_email=self._trust_unverified_email)
            try:
                if isinstance(event, RequestSubmitted):
                    self.decisions += 1
                    if event.request_id in requests:
                        log.warning("request id reused; ignored", request_id=event.request_id)
                        continue
                    request = self._submit(event, identity, actor, resources, flows, now, outcome)
                    if request is not None:
                        requests[request.request_id] = request
                        owners[(request.integration_id, request.resource_id)] = resources[
                            (event.integration_id, event.resource)
                        ].owner_ids
                    continue
                request = requests.get(event.request_id)
                if isinstance(identity, InvalidToken):
                    self._refuse(event, None, identity.code, identity.reason, outcome)
                elif not isinstance(actor, Person):
                    assert actor is not None  # a verified token names a person or says why not
                    self._refuse(event, identity.subject, actor.code, actor.reason, outcome)
                elif request is None:
                    self._refuse(event, actor.user_id, "unknown_request", "there is no such request", outcome)
                elif isinstance(event, REVIEW_EVENTS):
                    context = _review_context(request, people, owners)
                    self._review(event, request, actor, context, now, outcome)
                else:
                    self._requester_action(event, request, actor, now, outcome)
            except IllegalTransition as exc:
                log.warning("illegal transition refused", request_id=event.request_id, error=str(exc))
        await self._announce_reviews(session, outcome, people, owners)

    async def _announce_reviews(
        self,
        session: Any,
        outcome: Outcome,
        people: dict[str, Person],
        owners: dict[tuple[str, str], frozenset[str]],
    ) -> None:
        """A ReviewRequested for every approval step that opened in this batch and is still open at
        its end, naming who may review it now (the contract says who qualifies). Automatic flows open
        no step, so their batches skip this entirely."""
        opened = _opened_steps(outcome.events)
        waiting: list[tuple[AccessRequest, Ballot, Any]] = []
        for request_id, steps in opened.items():
            request = outcome.changed.get(request_id)
            ballot = request.ballot() if request is not None else None
            if request is None or ballot is None:
                continue
            cause = steps.get((ballot.extension, ballot.current_step))
            if cause is not None:
                waiting.append((request, ballot, cause))
        if not waiting:
            return
        # the requesters are in `people` already (the batch read them to judge the events)
        eligible = await self._eligible(session, [(r, b) for r, b, _ in waiting], people, owners)
        for request, ballot, cause in waiting:
            outcome.add(None, [self._review_requested(request, ballot, eligible[request.request_id], cause)])

    async def _eligible(
        self,
        session: Any,
        waiting: Sequence[tuple[AccessRequest, Ballot]],
        people: dict[str, Person],
        owners: dict[tuple[str, str], frozenset[str]],
    ) -> dict[str, list[Reviewer]]:
        """Per request, who may review its open step now, in user id order (ReviewRequested's contract
        says who qualifies). `people` holds the requesters, `owners` the resources' owners."""
        # The people the steps' users and groups name: one read per distinct set of them (a batch's
        # steps mostly share a flow), all in one round trip, each the first active ones in user id
        # order: as many as a ReviewRequested lists, plus the requester and whoever already
        # approved (they are not listed) and one more to tell the list is truncated. A step open to
        # a group of thousands reads a few hundred rows, not the group.
        named: dict[tuple[frozenset[str], frozenset[str]], int] = {}
        for _, ballot in waiting:
            approvers = ballot.steps[ballot.current_step].approvers
            key = (
                frozenset(a.user for a in approvers if a.user is not None),
                frozenset(a.group for a in approvers if a.group is not None),
            )
            if key[0] or key[1]:
                limit = MAX_REVIEWERS + len(ballot.approvals) + 2
                named[key] = max(limit, named.get(key, 0))
        candidates: set[str] = set()
        if named:
            reads = [self.store.named_users_read(u, g, limit) for (u, g), limit in named.items()]
            candidates = set().union(*await read_together(session, *reads))
        for request, ballot in waiting:
            step = ballot.steps[ballot.current_step]
            if any(a.manager for a in step.approvers):
                manager = people.get(request.requester_id)
                candidates |= {manager.manager_id} if manager and manager.manager_id else set()
            if any(a.owner for a in step.approvers):
                candidates |= owners.get((request.integration_id, request.resource_id), frozenset())
        known = await self.store.people(session, candidates)
        everyone = {p.user_id: p for p in known.values() if p.user_id in candidates and p.active}
        eligible: dict[str, list[Reviewer]] = {}
        for request, ballot in waiting:
            step = ballot.steps[ballot.current_step]
            context = _review_context(request, people, owners)
            counted = {record.reviewer_id for record in ballot.approvals}
            eligible[request.request_id] = [
                Reviewer(user_id=p.user_id, email=p.email)
                for _, p in sorted(everyone.items())
                if p.user_id not in counted and eligible_entries(step, p, context)
            ]
        return eligible

    @staticmethod
    def _review_requested(
        request: AccessRequest, ballot: Ballot, reviewers: list[Reviewer], cause: Any, *, update: bool = False
    ) -> ReviewRequested:
        extension = request.pending_extension if ballot.extension else None
        step = ballot.steps[ballot.current_step]
        return ReviewRequested(
            request_id=request.request_id,
            step=ballot.current_step,
            step_description=step.describe(ballot.current_step),
            extension=ballot.extension,
            reviewers=reviewers[:MAX_REVIEWERS],
            reviewers_truncated=len(reviewers) > MAX_REVIEWERS,
            approval_deadline=extension.deadline if extension else request.approval_deadline,
            update=update,
            producer=PRODUCER,
            correlation_id=request.request_id,
            causation_id=cause,
        )

    async def _open_reviews(
        self, session: Any, changes: ReviewerChanges, awaiting: dict[str, AccessRequest]
    ) -> OpenReviews:
        """The requests with an approval step open (`awaiting`, locked for the rest of the transaction)
        that `changes` may concern, and who may review each now: taken before the changes are applied,
        for `_announce_changed_reviewers` to compare with afterwards. A step the changes cannot concern
        is left alone, so a group of thousands is read only when something about it changed."""
        waiting = _waiting(awaiting.values())
        if not waiting:
            return OpenReviews({}, {})
        # what the changes name, widened by the changed people's emails and groups as they were, and
        # by the names of the changed groups
        emails, groups = set(changes.emails), set(changes.groups)
        if changes.users:
            for person in (await self.store.people(session, changes.users)).values():
                emails |= {person.email.lower()} if person.email else set()
                groups |= person.group_ids | set(person.group_names) | person.shared_group_names
        if groups:
            groups |= await self.store.group_names(session, groups)
        named = ReviewerChanges(changes.users, emails, groups, changes.resources)
        people, owners = await self._reviewing_context(session, waiting)
        concerned = [
            (r, ballot)
            for r, ballot in waiting
            if may_change_reviewers(
                ballot.steps[ballot.current_step],
                people.get(r.requester_id) or Person(r.requester_id),
                owners.get((r.integration_id, r.resource_id), frozenset()),
                (r.integration_id, r.resource_id),
                named,
            )
        ]
        if not concerned:
            return OpenReviews({}, {})
        return OpenReviews(
            {r.request_id: r for r, _ in concerned}, await self._eligible(session, concerned, people, owners)
        )

    async def _reviewing_context(
        self, session: Any, waiting: Sequence[tuple[AccessRequest, Ballot]]
    ) -> tuple[dict[str, Person], dict[tuple[str, str], frozenset[str]]]:
        """The requesters and the resources' owners, which judging these steps' reviewers needs."""
        people = await self.store.people(session, {r.requester_id for r, _ in waiting})
        owners = await self.store.owners(session, ((r.integration_id, r.resource_id) for r, _ in waiting))
        return people, owners

    async def _eligible_now(
        self, session: Any, requests: Iterable[AccessRequest]
    ) -> dict[str, list[Reviewer]]:
        waiting = _waiting(requests)
        if not waiting:
            return {}
        return await self._eligible(session, waiting, *await self._reviewing_context(session, waiting))

    async def _announce_changed_reviewers(
        self, session: Any, before: OpenReviews, outcome: Outcome, cause: Event | None
    ) -> None:
        """Announce again (ReviewRequested with `update`) every step still open whose reviewers are not
        the ones it had before this transaction's identity or inventory changes."""
        if not before.requests:
            return
        current = [outcome.changed.get(i, request) for i, request in before.requests.items()]
        eligible = await self._eligible_now(session, current)
        for request in current:
            ballot = request.ballot()
            reviewers = eligible.get(request.request_id)
            if ballot is None or reviewers is None or reviewers == before.reviewers.get(request.request_id):
                continue
            cause_id = cause.event_id if cause is not None else None
            outcome.add(None, [self._review_requested(request, ballot, reviewers, cause_id, update=True)])
            log.info(
                "reviewers changed; step announced again",
                request_id=request.request_id,
                step=ballot.current_step,
                reviewers=len(reviewers),
            )

    def _submit(
        self,
        event: RequestSubmitted,
        identity: Identity | InvalidToken,
        person: Person | Unmatched | None,
        resources: dict[tuple[str, str], Any],
        flows: list[AccessFlow],
        now: Any,
        outcome: Outcome,
    ) -> AccessRequest | None:
        envelope = {"producer": PRODUCER, "correlation_id": event.request_id, "causation_id": event.event_id}
        asked = {
            "integration_id": event.integration_id,
            "resource": event.resource,
            "permission": event.permission,
        }
        if isinstance(identity, InvalidToken):
            outcome.add(
                None,
                [
                    RequestRejected(
                        request_id=event.request_id,
                        code=identity.code,
                        reason=identity.reason,
                        **asked,
                        **envelope,
                    )
                ],
            )
            return None
        if not isinstance(person, Person):
            assert person is not None  # a verified token names a person or says why not
            outcome.add(
                None,
                [
                    RequestRejected(
                        request_id=event.request_id,
                        code=person.code,
                        reason=person.reason,
                        **asked,
                        **envelope,
                    )
                ],
            )
            return None
        ask = AccessAsk(
            event.integration_id,
            event.resource,
            event.permission,
            event.duration_seconds,
            event.justification,
            now,
        )
        resource = resources.get((event.integration_id, event.resource))
        match = match_request(person, ask, resource, flows)
        if isinstance(match, NoMatch):
            denied = RequestDenied(
                request_id=event.request_id,
                reason=match.reason,
                requester_id=person.user_id,
                **asked,
                **envelope,
            )
            outcome.add(None, [denied])
            return None
        assert resource is not None  # a match needs the resource
        request, events = AccessRequest.create(
            request_id=event.request_id,
            requester=person,
            resource=resource,
            permission=event.permission,
            justification=event.justification,
            requester_public_key=event.requester_public_key,
            match=match,
            now=now,
            cause=event,
            producer=PRODUCER,
        )
        outcome.add(request, events)
        if request.state is GrantState.approved:
            self._start_grant(request, now, event, outcome)
        return request

    def _start_grant(self, request: AccessRequest, now: Any, cause: Event, outcome: Outcome) -> None:
        command, events = request.start_grant(now, self.window, cause)
        outcome.commands.append(command)
        outcome.add(request, events)

    def _refuse(self, event: Any, actor_id: str | None, code: str, reason: str, outcome: Outcome) -> None:
        envelope = {"producer": PRODUCER, "correlation_id": event.request_id, "causation_id": event.event_id}
        if isinstance(event, REVIEW_EVENTS):
            refused: Event = ReviewRefused(
                request_id=event.request_id, reviewer_id=actor_id, reason=reason, **envelope
            )
        else:  # the request stays as it was: its story says an action was refused, not the request
            refused = ActionRefused(
                request_id=event.request_id,
                action=event.type,
                actor_id=actor_id,
                code=code,
                reason=reason,
                **envelope,
            )
        outcome.add(None, [refused])

    def _review(
        self,
        event: ReviewApproved | ReviewDenied,
        request: AccessRequest,
        reviewer: Person,
        context: ReviewContext,
        now: Any,
        outcome: Outcome,
    ) -> None:
        ballot = request.ballot()
        if ballot is None:
            waiting = (
                " and has no extension waiting for approval" if request.state is GrantState.active else ""
            )
            self._refuse(
                event,
                reviewer.user_id,
                "invalid_state",
                f"the request is {request.state}, not pending{waiting}",
                outcome,
            )
            return
        verdict = record_review(ballot.steps, ballot.current_step, ballot.approvals, reviewer, context)
        if not isinstance(verdict, Counted):
            self._refuse(event, reviewer.user_id, "not_an_approver", verdict.reason, outcome)
            return
        if isinstance(event, ReviewDenied):
            who = reviewer.email or reviewer.user_id
            reason = f"denied by {who}" + (f": {event.reason}" if event.reason else "")
            deny = request.deny_extension if ballot.extension else request.deny
            outcome.add(request, deny(reason, reviewer.user_id, event))
            return
        outcome.add(request, request.count_review(verdict, event.reason, event))
        if request.state is GrantState.approved:
            self._start_grant(request, now, event, outcome)

    def _is_admin(self, person: Person) -> bool:
        return any(person.is_named(u) for u in self.settings.admin_users) or any(
            person.in_group(g) for g in self.settings.admin_groups
        )

    def _requester_action(
        self,
        event: CancelRequested | ExtensionRequested | RevokeRequested,
        request: AccessRequest,
        actor: Person,
        now: Any,
        outcome: Outcome,
    ) -> None:
        own = actor.user_id == request.requester_id
        if isinstance(event, RevokeRequested):
            if not (own or self._is_admin(actor)):
                self._refuse(
                    event, actor.user_id, "not_allowed", "only the requester or an admin may revoke", outcome
                )
            elif request.state is GrantState.active:
                command, events = request.start_revoke("requested", 1, now, self.window, event)
                outcome.commands.append(command)
                outcome.add(request, events)
            elif request.state is GrantState.pending:
                outcome.add(request, request.cancel(event.reason or "revoked before approval", event))
            else:
                self._refuse(
                    event,
                    actor.user_id,
                    "invalid_state",
                    f"the grant is {request.state}, not active",
                    outcome,
                )
            return
        if not own:
            self._refuse(event, actor.user_id, "not_allowed", "only the requester may do this", outcome)
            return
        if isinstance(event, CancelRequested):
            if request.state is not GrantState.pending:
                self._refuse(
                    event,
                    actor.user_id,
                    "invalid_state",
                    f"only a pending request can be cancelled; it is {request.state}",
                    outcome,
                )
                return
            outcome.add(request, request.cancel(event.reason, event))
            return
        try:
            outcome.add(
                request,
                request.extend(
                    event.extra_seconds,
                    justification=event.justification,
                    requester=actor,
                    now=now,
                    cause=event,
                ),
            )
        except Refusal as refusal:
            self._refuse(event, actor.user_id, refusal.code, refusal.reason, outcome)

    # -- connector results and timers ------------------------------------------------------------
    def _apply_result(
        self,
        event: CommandApplied | CommandFailed,
        request: AccessRequest,
        requester_active: bool,
        now: Any,
        outcome: Outcome,
    ) -> None:
        kind = event.command_type
        if isinstance(event, CommandApplied):
            if kind == "connector.grant" and request.state is GrantState.granting:
                outcome.add(request, request.activate(event, now))
                if not requester_active:  # deactivated while the grant was being applied
                    command, events = request.start_revoke("deactivated", 1, now, self.window, event)
                    outcome.commands.append(command)
                    outcome.add(request, events)
            elif kind == "connector.revoke" and request.state in REVOCABLE:
                outcome.add(request, request.confirm_revoked(event))
            elif kind == "connector.grant" and request.state is GrantState.failed:
                # Its failure came first (forged on the results topic, or a connector that ran the
                # command after all): the access exists, and nothing else would ever end it.
                log.warning(
                    "grant applied after it was reported failed; revoking it", request_id=request.request_id
                )
                command, events = request.undo_late_grant(now, self.window, event)
                outcome.commands.append(command)
                outcome.add(request, events)
            else:
                log.info(
                    "result needs no change", request_id=request.request_id, state=request.state, type=kind
                )
            return
        if kind == "connector.grant" or (kind is None and request.state is GrantState.granting):
            if request.state is GrantState.granting:
                reason = f"the connector could not grant ({event.code}): {event.reason}"
                if may_have_applied(event):
                    command, events = request.undo_failed_grant(reason, now, self.window, event)
                    outcome.commands.append(command)
                    outcome.add(request, events)
                else:
                    outcome.add(request, request.fail_grant(reason, event))
        elif kind == "connector.revoke":
            outcome.add(request, request.revoke_failed(event))

    async def on_timers(self, batch: Batch[Any]) -> None:
        async with self._uow() as uow:
            events, requests = await read_together(
                uow.session,
                uow.inbox("timers", batch.events),
                self.store.lock_requests_read(e.request_id for e in batch.events),
            )
            if not events:
                return
            outcome = Outcome()
            now = utcnow()
            for event in events:
                request = requests.get(event.request_id)
                if request is None:
                    log.warning("timer for an unknown request", request_id=event.request_id)
                    continue
                try:
                    self._apply_timer(event, request, now, outcome)
                except IllegalTransition as exc:
                    log.warning("illegal transition refused", request_id=request.request_id, error=str(exc))
            await self.store.save_requests(uow, outcome.changed.values())
            self._write(uow, outcome)

    def _apply_timer(
        self, event: TimerFired | RevokeOverdue, request: AccessRequest, now: Any, outcome: Outcome
    ) -> None:
        if isinstance(event, RevokeOverdue):
            if request.state is GrantState.revoking:
                outcome.add(request, request.mark_overdue(event.attempts, event))
            return
        if event.kind == "grant_end":
            if request.state is not GrantState.active:
                return
            if request.expires_at is not None and (request.expires_at - event.due_at).total_seconds() > 1:
                log.info("stale grant_end after an extension", request_id=request.request_id)
                return
            command, events = request.start_revoke("expired", 1, now, self.window, event)
        elif event.kind == "approval_timeout":
            if request.state is GrantState.pending:
                outcome.add(request, request.expire(event))
            elif lapsed := request.lapse_extension(event.due_at, event):  # a pending extension's deadline
                outcome.add(request, lapsed)
            return
        elif event.kind == "revoke_retry":
            if request.state not in REVOCABLE:
                return
            command, events = request.start_revoke("retry", event.attempt, now, self.window, event)
        else:
            log.info("timer noted", kind=event.kind, request_id=request.request_id, state=request.state)
            return
        outcome.commands.append(command)
        outcome.add(request, events)


def build(settings: FlowEngineSettings, *, configure_process: bool = True) -> FlowEngine:
    return FlowEngine(settings, configure_process=configure_process)
