"""What people ask for, published by web frontends and the CLI to `access.requests.v1`.

Every event carries the actor's OIDC ID token: flow-engine takes who is asking from the verified
token, never from the event body.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .envelope import Event, Identifier

IdToken = Annotated[str, Field(min_length=1, max_length=16_384, repr=False)]


class RequestSubmitted(Event):
    """A person asks for `permission` on `resource` of `integration_id` for a while."""

    type: Literal["access.request.submitted"] = "access.request.submitted"
    request_id: Identifier
    id_token: IdToken
    integration_id: Identifier
    resource: str = Field(min_length=1, max_length=512)
    permission: str = Field(min_length=1, max_length=128, description="A template name, e.g. readonly")
    duration_seconds: int | None = Field(default=None, gt=0, description="None: the flow's default")
    justification: str | None = Field(default=None, max_length=2_000)
    requester_public_key: str | None = Field(
        default=None, max_length=128, description="Base64 X25519 key; issued credentials are sealed to it"
    )


class ReviewApproved(Event):
    """A reviewer approves the current step of a pending request."""

    type: Literal["access.review.approved"] = "access.review.approved"
    request_id: Identifier
    id_token: IdToken
    reason: str | None = Field(default=None, max_length=2_000)


class ReviewDenied(Event):
    """A reviewer denies a pending request; that ends it."""

    type: Literal["access.review.denied"] = "access.review.denied"
    request_id: Identifier
    id_token: IdToken
    reason: str | None = Field(default=None, max_length=2_000)


class CancelRequested(Event):
    """The requester withdraws a request that is still pending."""

    type: Literal["access.cancel.requested"] = "access.cancel.requested"
    request_id: Identifier
    id_token: IdToken
    reason: str | None = Field(default=None, max_length=2_000)


class ExtensionRequested(Event):
    """The requester asks to keep an active grant longer; evaluated against the flow like a request."""

    type: Literal["access.extension.requested"] = "access.extension.requested"
    request_id: Identifier
    id_token: IdToken
    extra_seconds: int = Field(gt=0)
    justification: str | None = Field(default=None, max_length=2_000)


class RevokeRequested(Event):
    """The requester or an admin asks to end an active grant now."""

    type: Literal["access.revoke.requested"] = "access.revoke.requested"
    request_id: Identifier
    id_token: IdToken
    reason: str | None = Field(default=None, max_length=2_000)


RequestEvent = Annotated[
    RequestSubmitted | ReviewApproved | ReviewDenied | CancelRequested | ExtensionRequested | RevokeRequested,
    Field(discriminator="type"),
]
