"""flow-engine's settings (environment variables with the LATCHKEY_ prefix)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import Field, SecretStr, field_validator

from latchkey.runtime import ServiceSettings
from latchkey.runtime.signing import load_private_key, load_private_key_file

NOTIFY_DEFAULT_EVENTS = (
    "access.request.created",
    "access.grant.extension_requested",
    "access.review.requested",
    "access.grant.failed",
    "access.grant.revoke_overdue",
)
"""What is posted unless LATCHKEY_NOTIFY_EVENTS says otherwise."""


class FlowEngineSettings(ServiceSettings):
    service_name: str = "flow-engine"
    health_port: int = Field(default=8082, ge=0, le=65535)

    signing_key: SecretStr | None = Field(default=None, description="Ed25519 private key, base64 raw or PEM")
    signing_key_file: Path | None = Field(default=None, description="File holding the signing key instead")
    signing_key_id: str = Field(default="default", max_length=64, description="Key id connectors know it by")
    command_validity_seconds: int = Field(default=300, ge=5, description="How long a command may be applied")
    revoke_confirm_seconds: int = Field(
        default=120, ge=5, description="A revoke must be confirmed within this"
    )

    oidc_issuer: str = Field(default="http://127.0.0.1:8080", description="The IdP issuer (iss) to trust")
    oidc_audience: str = Field(default="latchkey", description="Expected aud of ID tokens")
    oidc_jwks_url: str | None = Field(
        default=None, description="JWKS URL; default from the discovery document"
    )
    oidc_trust_unverified_email: bool = Field(
        default=False,
        description="Match a requester by the token's email even when the IdP does not say it verified it"
        " (email_verified). Unsafe with Entra ID and any IdP whose users or guests choose their email;"
        " only for a legacy IdP that verifies emails but never sends email_verified",
    )
    decisions_linger_ms: int = Field(
        default=5,
        ge=0,
        le=1000,
        description="Longest time the broker holds a fetch of requests and connector results to fill a"
        " batch (64 kB), while they come (idle: long poll); 0: each as soon as it is there",
    )
    admin_groups: list[str] = Field(
        default_factory=list,
        description="Groups (ids, or names only one synced group has) that may revoke any grant",
    )
    admin_users: list[str] = Field(
        default_factory=list, description="Users (ids or emails) that may revoke any grant"
    )

    notify_webhook_url: SecretStr | None = Field(
        default=None,
        description="POST notifications here (a Slack-compatible incoming webhook or any JSON endpoint)",
    )
    notify_format: Literal["slack", "json"] = Field(
        default="slack", description='slack: {"text"}; json: {"text", "event"} (the lifecycle event)'
    )
    notify_events: list[str] = Field(
        default_factory=lambda: list(NOTIFY_DEFAULT_EVENTS),
        description="Lifecycle event types to post (access.request.created only when reviewers are needed)",
    )

    @field_validator("notify_webhook_url", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        """An empty LATCHKEY_NOTIFY_WEBHOOK_URL (e.g. `${VAR:-}` in docker-compose) means no notifications."""
        return None if isinstance(value, str) and not value.strip() else value

    def private_key(self) -> Ed25519PrivateKey:
        """The command signing key; flow-engine refuses to start without one."""
        if self.signing_key is not None:
            return load_private_key(self.signing_key.get_secret_value())
        if self.signing_key_file is not None:
            try:
                return load_private_key_file(self.signing_key_file)
            except OSError as exc:
                raise ValueError(
                    f"LATCHKEY_SIGNING_KEY_FILE: cannot read {self.signing_key_file}: {exc.strerror}"
                ) from None
        raise ValueError(
            "no command signing key: set LATCHKEY_SIGNING_KEY (base64 Ed25519) or LATCHKEY_SIGNING_KEY_FILE"
        )
