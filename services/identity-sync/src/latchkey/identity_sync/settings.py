"""identity-sync settings: LATCHKEY_* environment variables (secrets may come from files)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from latchkey.runtime import ServiceSettings

ProviderName = Literal["file", "scim", "okta", "graph", "google"]


class IdentitySyncSettings(ServiceSettings):
    service_name: str = "identity-sync"
    health_port: int = Field(default=8081, ge=0, le=65535)

    idp_provider: ProviderName = Field(default="file", description="file | scim | okta | graph | google")
    idp_url: str = Field(
        default="",
        description="API base: SCIM base (…/scim/v2), Okta org URL, Graph root (https://graph.microsoft.com/v1.0),"
        " Google Directory root (https://admin.googleapis.com)",
    )
    idp_file: Path = Field(default=Path("examples/identity/directory.yaml"), description="file provider YAML")
    idp_token: SecretStr | None = Field(default=None, description="SCIM bearer token / Okta API (SSWS) token")
    idp_token_file: Path | None = Field(default=None, description="file holding the token (re-read on 401)")
    idp_token_url: str | None = Field(
        default=None, description="OAuth token endpoint (defaults per provider)"
    )
    idp_client_id: str | None = None
    idp_client_secret: SecretStr | None = None
    idp_private_key: SecretStr | None = Field(default=None, description="PEM for private_key_jwt / Google SA")
    idp_private_key_file: Path | None = None
    idp_key_id: str | None = Field(default=None, description="Okta: kid header of the client assertion")
    idp_certificate: str | None = Field(
        default=None,
        description="Entra ID: the certificate (PEM) of the private key; its thumbprint names it",
    )
    idp_certificate_file: Path | None = None
    idp_scopes: str | None = Field(default=None, description="OAuth scopes (defaults per provider)")
    idp_tenant_id: str | None = Field(default=None, description="Entra ID tenant (for the default token URL)")
    idp_subject: str | None = Field(
        default=None, description="Google: admin impersonated (domain-wide delegation)"
    )
    idp_customer: str = Field(default="my_customer", description="Google: customer id")
    idp_graph_delta: bool = Field(default=True, description="Graph: use delta queries between full syncs")
    idp_filter: str | None = Field(default=None, description="SCIM filter applied to /Users")
    idp_incremental_overlap_s: float = Field(
        default=120.0,
        ge=0,
        description="Okta: incremental runs re-read changes from this long before the previous run started"
        " (search and filter results come from an eventually consistent index)",
    )
    idp_page_size: int = Field(default=0, ge=0, description="0: provider default (Okta 200, Graph 999, ...)")
    idp_concurrency: int = Field(default=8, ge=1, le=64, description="parallel requests (per-group members)")
    idp_max_retries: int = Field(default=6, ge=0)
    idp_max_retry_delay_s: float = Field(default=60.0, gt=0, description="bound on a server-requested delay")
    idp_timeout_s: float = Field(default=30.0, gt=0)

    full_sync_interval_s: float = Field(default=6 * 3600.0, gt=0, description="full listing + diff")
    incremental_interval_s: float = Field(default=300.0, gt=0, description="delta / diff between full syncs")
    failure_backoff_max_s: float = Field(default=600.0, gt=0)

    def certificate_pem(self) -> str | None:
        if self.idp_certificate is not None:
            return self.idp_certificate
        if self.idp_certificate_file is not None:
            return self.idp_certificate_file.read_text()
        return None

    def private_key_pem(self) -> SecretStr | None:
        if self.idp_private_key is not None:
            return self.idp_private_key
        if self.idp_private_key_file is not None:
            return SecretStr(self.idp_private_key_file.read_text())
        return None
