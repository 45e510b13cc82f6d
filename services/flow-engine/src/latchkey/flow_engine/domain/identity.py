"""The people and resources a decision looks at, as the read models know them, and which synced person
a verified ID token names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Person:
    """A user from identity-sync with their groups. A group is named by its id, or by its name when no
    other synced group has that name: `group_names` holds this person's groups' unique names,
    `shared_group_names` the names of theirs that several groups share (those match nothing: in Entra ID
    and Google display names are not unique, and anyone may be able to create a group called "dba")."""

    user_id: str
    email: str | None = None
    active: bool = True
    manager_id: str | None = None
    group_ids: frozenset[str] = frozenset()
    group_names: tuple[str, ...] = ()
    shared_group_names: frozenset[str] = frozenset()

    def is_named(self, reference: str) -> bool:
        return reference == self.user_id or (
            self.email is not None and reference.lower() == self.email.lower()
        )

    def in_group(self, reference: str) -> bool:
        """Whether `reference` (a flow's or a setting's group) names one of this person's groups: by id,
        or by a name only one synced group has."""
        return reference in self.group_ids or reference in self.group_names

    def ambiguous(self, references: Iterable[str]) -> list[str]:
        """The `references` that would name one of this person's groups but for its name being shared
        by several groups (sorted; empty when none)."""
        return sorted({r for r in references if r in self.shared_group_names and not self.in_group(r)})

    def describe(self) -> str:
        names = sorted({*self.group_names, *self.shared_group_names})
        if names:
            label = "group" if len(names) == 1 else "groups"
            return f"{label} {', '.join(names)}"
        return f"user {self.email or self.user_id}"


def ambiguity_note(names: Iterable[str]) -> str:
    """What to add to a refusal that a shared group name caused ("" when none did)."""
    shared = sorted(set(names))
    if not shared:
        return ""
    quoted = ", ".join(shared)
    noun = "group name" if len(shared) == 1 else "group names"
    return (
        f"; {noun} {quoted} {'is' if len(shared) == 1 else 'are'} ambiguous: several groups in the "
        "identity provider are called that, so a flow that names a group this way matches none of them; "
        "ask an admin to name the group by its id in the flow"
    )


@dataclass(frozen=True)
class Identity:
    """Who a verified ID token says its holder is: the claims a requester is matched by."""

    subject: str
    email: str | None = None
    email_verified: bool = False
    object_id: str | None = None
    """Entra ID's `oid`: the user's object id, which identity-sync stores as the user id (Entra's `sub`
    is pairwise, per application, and never a user id)."""


@dataclass(frozen=True)
class Unmatched:
    """A verified token that names no synced person: `code` for machines, `reason` for people."""

    code: str
    reason: str


def email_key(email: str) -> str:
    """The key a person is found under by email in a people mapping (case-insensitive)."""
    return f"email:{email.lower()}"


def shared_email_key(email: str) -> str:
    """The key a people mapping holds instead of `email_key` when several synced users have `email`."""
    return f"email-shared:{email.lower()}"


def matching_keys(identity: Identity, *, trust_unverified_email: bool = False) -> tuple[list[str], list[str]]:
    """The user ids and the emails a token may be matched by (what to read before `find_person`)."""
    ids = [identity.subject] + ([identity.object_id] if identity.object_id else [])
    email = identity.email if identity.email and (identity.email_verified or trust_unverified_email) else None
    return ids, [email] if email else []


def find_person(
    identity: Identity, people: Mapping[str, Person], *, trust_unverified_email: bool = False
) -> Person | Unmatched:
    """The synced person a verified token names: its `sub` as a user id; else its `oid` as a user id;
    else its email, only when the IdP says it verified it (`email_verified`), or when the deployment
    trusts unverified emails (LATCHKEY_OIDC_TRUST_UNVERIFIED_EMAIL). An unverified email claim is the
    "nOAuth" hole: in Entra ID a guest or anyone who can edit their mail attribute chooses it.
    `people` holds people by user id and by `email_key`."""
    ids, emails = matching_keys(identity, trust_unverified_email=trust_unverified_email)
    for key in [*ids, *(email_key(e) for e in emails)]:
        person = people.get(key)
        if person is not None:
            return person
    shared = [e for e in emails if shared_email_key(e) in people]
    if shared:
        return Unmatched(
            "ambiguous_email",
            f"several users Latchkey knows from the identity provider have the email {shared[0]}, so it "
            "names none of them; ask an admin to give each user an email of their own in the identity "
            "provider, or to sync users by the id the token carries",
        )
    if identity.email and not emails:
        return Unmatched(
            "unverified_email",
            f"the ID token's email {identity.email} is not verified by the identity provider "
            "(email_verified is not true), and neither its subject nor its object id (oid) is a user "
            "Latchkey knows from the identity provider; ask an admin to sync users by the id the token "
            "carries, or to have the identity provider verify emails (email_verified)",
        )
    who = identity.email or identity.subject
    return Unmatched(
        "unknown_user",
        f"{who} is not a user Latchkey knows from the identity provider; ask an admin to check identity-sync",
    )


@dataclass(frozen=True)
class Resource:
    """A resource from a connector's inventory."""

    integration_id: str
    resource_id: str
    name: str
    resource_type: str
    connector_id: str
    permissions: tuple[str, ...] = ()
    owner_ids: frozenset[str] = frozenset()
    tags: dict[str, str] = field(default_factory=dict)
