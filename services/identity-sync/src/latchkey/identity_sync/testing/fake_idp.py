"""Fake IdP HTTP servers (aiohttp) following the real APIs closely enough to exercise a provider:

- okta:   /api/v1/users (`search`, `filter`; the plain listing leaves out DEPROVISIONED users),
          /api/v1/groups (`filter`, `search`), /api/v1/groups/{id}/users; `Link: <…>; rel="next"` paging
          (`limit`, `after`); `lastUpdated` / `lastMembershipUpdated` as the population changes;
          X-Rate-Limit-Limit/-Remaining/-Reset and 429 E0000047; SSWS API token or OAuth client
          credentials with a private-key JWT at /oauth2/v1/token.
- graph:  /v1.0/users/delta, /v1.0/groups/delta (`@odata.nextLink` / `@odata.deltaLink`, `members@delta`,
          `@removed`, 410 for an unknown delta token), /v1.0/users, /v1.0/groups, /v1.0/groups/{id}/members;
          429 with Retry-After; client credentials at /{tenant}/oauth2/v2.0/token.
- google: /admin/directory/v1/users, /groups, /groups/{key}/members (`pageToken`/`nextPageToken`);
          service-account JWT assertion (domain-wide delegation: `sub`) at /token.
- scim:   /scim/v2/Users, /scim/v2/Groups (ListResponse, `startIndex`/`count`, `filter` eq/pr); bearer token.

Every payload carries personal data (names, phones, addresses, custom attributes) that a correct sync
drops. `FaultPlan` injects 5xx, 429, malformed pages and token expiry at chosen points.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from .okta_query import GROUP_FILTER, GROUP_SEARCH, USER_FILTER, USER_SEARCH, InvalidQuery, compile_query
from .population import CREATED_AT, FakeGroup, FakeUser, Population

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# the properties the graph provider selects (to pre-render them for the benchmark)
GRAPH_USER_SELECT = "id,mail,userPrincipalName,accountEnabled,manager"


@dataclass
class Fault:
    kind: str  # "status" | "throttle" | "malformed" | "expire_token"
    path: str = ""  # only requests whose path contains this
    count: int = 1
    after: int = 0  # let this many matching requests through first
    status: int = 503
    retry_after: float | None = None


@dataclass
class RequestRecord:
    at: float
    method: str
    path: str
    status: int
    query: str = ""  # decoded query string (e.g. Okta's search / filter expression)


@dataclass
class FaultPlan:
    faults: list[Fault] = field(default_factory=list)
    log: list[RequestRecord] = field(default_factory=list)

    def add(self, kind: str, **options: Any) -> Fault:
        fault = Fault(kind, **options)
        self.faults.append(fault)
        return fault

    def take(self, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.count <= 0 or fault.path not in path:
                continue
            if fault.after > 0:
                fault.after -= 1
                continue
            fault.count -= 1
            return fault
        return None

    def statuses(self, path: str = "") -> list[int]:
        return [r.status for r in self.log if path in r.path]


def okta_time(epoch: float) -> str:
    """Okta's timestamp format, in milliseconds: 2024-05-01T09:00:00.000Z."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
    return f"{whole}.{round(epoch * 1000) % 1000:03d}Z"


def _encoded(item: Any) -> bytes:
    return item if isinstance(item, bytes) else json.dumps(item).encode()


def _generate_rsa_pem() -> tuple[str, str, str]:
    """A private key, its public key, and a self-signed certificate for it (all PEM)."""
    import datetime

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from latchkey.runtime.testing.certificates import self_signed_certificate

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    certificate = self_signed_certificate(key, "latchkey-sync", valid_for=datetime.timedelta(days=365))
    return private, public, certificate.public_bytes(serialization.Encoding.PEM).decode()


CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class FakeIdp:
    """One fake IdP of `kind` serving `population` on 127.0.0.1 (random port unless given)."""

    def __init__(
        self,
        kind: str,
        population: Population,
        *,
        faults: FaultPlan | None = None,
        page_size: int | None = None,
        rate_limit: int = 100_000,
        rate_window_s: float = 60.0,
        members_per_object: int = 500,
        with_private_key: bool = True,
        honour_select: bool = True,
    ) -> None:
        if kind not in ("okta", "graph", "google", "scim"):
            raise ValueError(f"unknown fake IdP {kind!r}")
        self.kind = kind
        self.population = population
        self.faults = faults or FaultPlan()
        self.page_size = page_size
        self.rate_limit = rate_limit
        self.rate_window_s = rate_window_s
        self.members_per_object = members_per_object
        # Graph returns only the `$select`ed properties; False serves everything regardless (a server
        # sending more than asked, for the personal-data tests)
        self.honour_select = honour_select
        self._selects: list[frozenset[str] | None] = [None]  # by delta-token suffix
        self.api_token = "fake-api-" + secrets.token_hex(8)
        self.client_id = "latchkey-sync-client"
        self.client_secret = "fake-secret-" + secrets.token_hex(8)
        self.service_account = "latchkey-sync@project.iam.gserviceaccount.com"
        self.subject = "admin@" + population.domain
        self.tenant = "00000000-0000-4000-8000-00000000te57"
        self.private_key_pem, self.public_key_pem, self.certificate_pem = (
            _generate_rsa_pem() if with_private_key else ("", "", "")
        )
        self._assertion_ids: set[str] = set()  # jti of the client assertions taken: a replay is refused
        self.issued_tokens: set[str] = set()
        self.token_requests = 0
        self._window_start = time.time()
        self._window_used = 0
        self._rounds: dict[str, list[Any]] = {}
        self._json_cache: dict[tuple[str, int, int], bytes] = {}
        self._round_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- lifecycle ---------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/_fake/changes", self._admin_changes)
        app.router.add_get("/_fake/state", self._admin_state)
        routes = {
            "okta": self._okta_routes,
            "graph": self._graph_routes,
            "google": self._google_routes,
            "scim": self._scim_routes,
        }[self.kind]
        routes(app)
        return app

    async def start(self, port: int = 0) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeIdp:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        """The URL to configure as LATCHKEY_IDP_URL."""
        suffix = {"okta": "", "graph": "/v1.0", "google": "", "scim": "/scim/v2"}[self.kind]
        return self.base_url + suffix

    @property
    def token_url(self) -> str:
        return {
            "okta": f"{self.base_url}/oauth2/v1/token",
            "graph": f"{self.base_url}/{self.tenant}/oauth2/v2.0/token",
            "google": f"{self.base_url}/token",
            "scim": "",
        }[self.kind]

    def expire_tokens(self) -> None:
        self.issued_tokens.clear()

    # -- cross-cutting behaviour: faults, auth, rate limits -----------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await self._guarded(request, handler)
        self.faults.log.append(
            RequestRecord(
                time.time(),
                request.method,
                request.path,
                response.status,
                "&".join(f"{k}={v}" for k, v in request.query.items()),
            )
        )
        return response

    async def _guarded(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith("/_fake") or request.method == "POST":
            return await handler(request)
        fault = self.faults.take(path)
        if fault is not None and fault.kind == "expire_token":
            self.expire_tokens()
        if not self._authorised(request):
            return self._error(401, "invalid or expired token")
        if fault is not None and fault.kind in ("status", "throttle"):
            status = 429 if fault.kind == "throttle" else fault.status
            headers = {}
            if fault.retry_after is not None:
                if self.kind == "okta" and status == 429:
                    headers["X-Rate-Limit-Reset"] = str(time.time() + fault.retry_after)
                else:
                    headers["Retry-After"] = f"{fault.retry_after:g}"
            return self._error(status, "injected", headers)
        if self.kind == "okta":
            limited = self._okta_rate_limit()
            if limited is not None:
                return limited
        response = await handler(request)
        if fault is not None and fault.kind == "malformed" and isinstance(response, web.Response):
            body = response.body if isinstance(response.body, bytes) else b"{}"
            return web.Response(
                body=body[: max(1, len(body) // 2)],
                status=200,
                content_type="application/json",
                headers={k: v for k, v in response.headers.items() if k.lower() == "link"},
            )
        if fault is not None and fault.kind == "empty_page" and isinstance(response, web.Response):
            # a SCIM server that answers a page with no resources before the totalResults it announced
            body = json.loads(response.body if isinstance(response.body, bytes) else b"{}")
            body["Resources"], body["itemsPerPage"] = [], 0
            return web.Response(body=json.dumps(body).encode(), content_type=response.content_type)
        if self.kind == "okta" and isinstance(response, web.Response):
            response.headers.update(self._okta_rate_headers())
        return response

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if self.kind in ("okta", "scim") and token == self.api_token:
            return scheme == ("SSWS" if self.kind == "okta" else "Bearer")
        return scheme == "Bearer" and token in self.issued_tokens

    def _error(self, status: int, detail: str, headers: dict[str, str] | None = None) -> web.Response:
        body: dict[str, Any]
        if self.kind == "okta":
            codes = {400: "E0000031", 401: "E0000011", 404: "E0000007", 429: "E0000047"}
            code = codes.get(status, "E0000009")
            body = {"errorCode": code, "errorSummary": detail, "errorLink": code, "errorCauses": []}
        elif self.kind == "graph":
            codes = {401: "InvalidAuthenticationToken", 429: "TooManyRequests", 410: "syncStateNotFound"}
            body = {"error": {"code": codes.get(status, "serviceNotAvailable"), "message": detail}}
        elif self.kind == "google":
            body = {"error": {"code": status, "message": detail, "errors": [{"reason": "backendError"}]}}
        else:
            body = {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": str(status),
                "detail": detail,
            }
        return web.json_response(body, status=status, headers=headers)

    def _okta_window(self) -> None:
        now = time.time()
        if now - self._window_start >= self.rate_window_s:
            self._window_start, self._window_used = now, 0

    def _okta_rate_headers(self) -> dict[str, str]:
        return {
            "X-Rate-Limit-Limit": str(self.rate_limit),
            "X-Rate-Limit-Remaining": str(max(0, self.rate_limit - self._window_used)),
            # the epoch second at or after the window's end (Okta's header is whole seconds): rounded
            # up, never down, or a client that waits for it may arrive just before the window turns
            "X-Rate-Limit-Reset": str(math.ceil(self._window_start + self.rate_window_s)),
        }

    def _okta_rate_limit(self) -> web.Response | None:
        self._okta_window()
        if self._window_used >= self.rate_limit:
            return self._error(
                429, "API call exceeded rate limit due to too many requests.", self._okta_rate_headers()
            )
        self._window_used += 1
        return None

    def _issue_token(self) -> web.Response:
        self.token_requests += 1
        token = "fake-access-" + secrets.token_hex(12)
        self.issued_tokens.add(token)
        return web.json_response({"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    @property
    def certificate_thumbprint(self) -> str:
        """x5t#S256 of the certificate: base64url SHA-256 of its DER encoding (as Entra ID computes it).
        Worked out here, not with the client's `certificate_thumbprint`, so a mistake there fails."""
        import base64

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        digest = x509.load_pem_x509_certificate(self.certificate_pem.encode()).fingerprint(hashes.SHA256())
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _verify_assertion(
        self,
        assertion: str,
        *,
        issuer: str,
        audience: str,
        header: dict[str, str] | None = None,
        algorithm: str = "RS256",
    ) -> dict[str, Any] | None:
        """The claims of a JWT signed with `algorithm` by this IdP's client key, with the issuer,
        audience and header entries given, issued for at most an hour and not expired; None otherwise."""
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import RSAKey

        try:
            token = jwt.decode(assertion, RSAKey.import_key(self.public_key_pem), algorithms=[algorithm])
        except (JoseError, ValueError):
            return None
        claims = dict(token.claims)
        issued, expires = claims.get("iat"), claims.get("exp")
        if (
            claims.get("iss") != issuer
            or claims.get("aud") != audience
            or not isinstance(issued, int)
            or not isinstance(expires, int)
            or expires < time.time()
            or expires - issued > 3600
            or any(token.header.get(k) != v for k, v in (header or {}).items())
        ):
            return None
        return claims

    def _verify_client_assertion(
        self, form: Any, header: dict[str, str] | None = None, algorithm: str = "RS256"
    ) -> bool:
        """RFC 7523 client authentication: the assertion type, a valid assertion whose subject is the
        client, and a `jti` not seen before (Okta and Entra ID refuse a replayed assertion)."""
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            return False
        claims = self._verify_assertion(
            str(form.get("client_assertion", "")),
            issuer=self.client_id,
            audience=self.token_url,
            header=header,
            algorithm=algorithm,
        )
        jti = claims.get("jti") if claims is not None else None
        if claims is None or claims.get("sub") != self.client_id or not isinstance(jti, str):
            return False
        if jti in self._assertion_ids:
            return False
        self._assertion_ids.add(jti)
        return True

    def _paged(self, key: str, items: list[Any], offset: int, size: int) -> tuple[list[Any], int | None]:
        page = items[offset : offset + size]
        following = offset + size if offset + size < len(items) else None
        return page, following

    def _user_json(self, flavour: str, user: FakeUser) -> bytes:
        """A user's payload, rendered once per version (a 100k-user benchmark should measure the sync,
        not the fake's JSON encoding)."""
        key = (flavour, user.index, user.version)
        cached = self._json_cache.get(key)
        if cached is None:
            if flavour == "okta":
                body = self.okta_user(user)
            else:  # "graph-delta" or "graph-delta:<selected,properties>"
                body = self._selected(self.graph_user(user, delta=True), flavour.partition(":")[2])
            cached = self._json_cache[key] = json.dumps(body).encode()
        return cached

    @staticmethod
    def _selected(body: dict[str, Any], select: str) -> dict[str, Any]:
        """Graph's `$select`: the id, the selected properties and their `@delta` annotations."""
        if not select:
            return body
        wanted = set(select.split(","))
        return {k: v for k, v in body.items() if k == "id" or k.startswith("@") or k.split("@")[0] in wanted}

    def warm(self) -> None:
        """Render every user up front as a sync will ask for them (the benchmark times after this)."""
        flavour = {"okta": "okta", "graph": "graph-delta"}.get(self.kind)
        if self.kind == "graph" and self.honour_select:
            flavour = f"graph-delta:{','.join(sorted(GRAPH_USER_SELECT.split(',')))}"
        if flavour is not None:
            for user in self.population.users:
                self._user_json(flavour, user)

    def _round(self, build: Callable[[], list[Any]], token: str | None) -> tuple[str, list[Any]]:
        """Objects of one paging round, fixed at its first page (like a server-side cursor)."""
        if token and token in self._rounds:
            return token, self._rounds[token]
        round_id = f"r{next(self._round_ids)}"
        self._rounds[round_id] = build()
        return round_id, self._rounds[round_id]

    # -- admin (benchmark drives a subprocess fake through these) -----------------------------------
    async def _admin_changes(self, request: web.Request) -> web.Response:
        count = int(request.query.get("count", "100"))
        seed = int(request.query.get("seed", "1"))
        return web.json_response(self.population.random_changes(count, seed))

    async def _admin_state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "users": len(self.population.users),
                "groups": len(self.population.groups),
                "requests": len(self.faults.log),
                "version": self.population.version,
            }
        )

    # == Okta ======================================================================================
    def _okta_routes(self, app: web.Application) -> None:
        app.router.add_post("/oauth2/v1/token", self._okta_token)
        app.router.add_get("/api/v1/users", self._okta_users)
        app.router.add_get("/api/v1/groups", self._okta_groups)
        app.router.add_get("/api/v1/groups/{group_id}/users", self._okta_group_users)

    async def _okta_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "client_credentials" or not self._verify_client_assertion(form):
            return web.json_response({"error": "invalid_client"}, status=401)
        if "okta.users.read" not in str(form.get("scope", "")):
            return web.json_response({"error": "invalid_scope"}, status=400)
        return self._issue_token()

    @staticmethod
    def okta_status(user: FakeUser) -> str:
        if user.deprovisioned:
            return "DEPROVISIONED"
        return "ACTIVE" if user.active else "SUSPENDED"

    def okta_user(self, user: FakeUser) -> dict[str, Any]:
        pii = self.population.pii(user)
        manager = self.population.users[user.manager] if user.manager is not None else None
        return {
            "id": user.id,
            "status": self.okta_status(user),
            "created": okta_time(CREATED_AT - 86400),
            "activated": okta_time(CREATED_AT - 86400),
            "statusChanged": None,
            "lastLogin": "2024-05-01T09:00:00.000Z",
            "lastUpdated": okta_time(user.updated_at),
            "passwordChanged": "2023-01-01T00:00:00.000Z",
            "type": {"id": "oty1fake"},
            "profile": {
                "firstName": pii["given_name"],
                "lastName": pii["family_name"],
                "mobilePhone": pii["phone"],
                "secondEmail": None,
                "login": user.email,
                "email": user.email,
                "streetAddress": pii["street"],
                "city": pii["city"],
                "zipCode": pii["postal_code"],
                "employeeNumber": pii["employee_number"],
                "costCenter": pii["cost_center"],
                "title": pii["title"],
                "birthdate": pii["birthday"],
                "managerId": manager.id if manager else None,
                "manager": self.population.pii(manager)["family_name"] if manager else None,
            },
            "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
            "_links": {"self": {"href": f"{self.base_url}/api/v1/users/{user.id}"}},
        }

    def okta_group(self, group: FakeGroup) -> dict[str, Any]:
        return {
            "id": group.id,
            "created": okta_time(CREATED_AT - 86400),
            "lastUpdated": okta_time(group.updated_at),
            "lastMembershipUpdated": okta_time(group.members_updated_at),
            "objectClass": ["okta:user_group"],
            "type": "OKTA_GROUP",
            "profile": {"name": group.name, "description": f"Cost centre owner {group.index}"},
        }

    def _okta_user_field(self, user: FakeUser, attribute: str) -> Any:
        """A user's attribute for filter/search (dates as epoch seconds, rounded like the JSON)."""
        if attribute == "lastUpdated":
            return round(user.updated_at, 3)
        if attribute in ("created", "activated"):
            return CREATED_AT - 86400
        if attribute == "id":
            return user.id
        if attribute == "status":
            return self.okta_status(user)
        if attribute == "type.id":
            return "oty1fake"
        if attribute in ("profile.login", "profile.email"):
            return user.email
        if attribute.startswith("profile."):
            return self.okta_user(user)["profile"].get(attribute.removeprefix("profile."))
        return None

    def _okta_group_field(self, group: FakeGroup, attribute: str) -> Any:
        if attribute == "lastUpdated":
            return round(group.updated_at, 3)
        if attribute == "lastMembershipUpdated":
            return round(group.members_updated_at, 3)
        if attribute == "created":
            return CREATED_AT - 86400
        if attribute == "id":
            return group.id
        if attribute == "type":
            return "OKTA_GROUP"
        if attribute.startswith("profile."):
            return self.okta_group(group)["profile"].get(attribute.removeprefix("profile."))
        return None

    def _okta_page(
        self, request: web.Request, items: list[Any], render: Callable[[Any], Any]
    ) -> web.Response:
        limit = min(int(request.query.get("limit", self.page_size or 200)), self.page_size or 1000)
        offset = int(request.query.get("after", "0") or 0)
        page, following = self._paged("after", items, offset, limit)
        # like Okta, the next link repeats the query (search, filter, ...) with the new cursor
        query = {k: v for k, v in request.query.items() if k not in ("after", "limit")}
        here = urlencode({**query, "limit": limit})
        headers = {"Link": f'<{self.base_url}{request.path}?{here}>; rel="self"'}
        if following is not None:
            following_query = urlencode({**query, "limit": limit, "after": following})
            headers["Link"] += f', <{self.base_url}{request.path}?{following_query}>; rel="next"'
        return web.Response(
            body=b"[" + b",".join(_encoded(render(item)) for item in page) + b"]",
            content_type="application/json",
            headers=headers,
        )

    def _okta_listing(self, request: web.Request, build: Callable[[], list[Any]]) -> list[Any]:
        """The collection being paged, snapshotted at its first page (the `after` cursor is an offset)."""
        key = f"okta:{request.path}?search={request.query.get('search')}&filter={request.query.get('filter')}"
        if not request.query.get("after") or key not in self._rounds:
            self._rounds[key] = build()
        return self._rounds[key]

    def _okta_predicate(
        self, request: web.Request, filter_fields: frozenset[str], search_fields: frozenset[str]
    ) -> Callable[[Callable[[str], Any]], bool] | None:
        if "search" in request.query:
            return compile_query(request.query["search"], search_fields, search=True)
        if "filter" in request.query:
            return compile_query(request.query["filter"], filter_fields)
        return None

    async def _okta_users(self, request: web.Request) -> web.Response:
        try:
            predicate = self._okta_predicate(request, USER_FILTER, USER_SEARCH)
        except InvalidQuery as exc:
            return self._error(400, f"Invalid search criteria: {exc}")

        def build() -> list[FakeUser]:
            if predicate is None:
                # Like Okta: the plain listing leaves out DEPROVISIONED users (search and filter do not)
                return [u for u in self.population.live_users() if not u.deprovisioned]
            return [
                u
                for u in self.population.live_users()
                if predicate(lambda attribute, u=u: self._okta_user_field(u, attribute))  # type: ignore[misc]
            ]

        users = self._okta_listing(request, build)
        return self._okta_page(request, users, lambda u: self._user_json("okta", u))

    async def _okta_groups(self, request: web.Request) -> web.Response:
        try:
            predicate = self._okta_predicate(request, GROUP_FILTER, GROUP_SEARCH)
        except InvalidQuery as exc:
            return self._error(400, f"Invalid search criteria: {exc}")

        def build() -> list[FakeGroup]:
            return [
                g
                for g in self.population.live_groups()
                if predicate is None or predicate(lambda attribute, g=g: self._okta_group_field(g, attribute))  # type: ignore[misc]
            ]

        groups = self._okta_listing(request, build)
        return self._okta_page(request, groups, self.okta_group)

    async def _okta_group_users(self, request: web.Request) -> web.Response:
        group = self.population.by_group_id.get(request.match_info["group_id"])
        if group is None or group.deleted:
            return self._error(404, "Not found: Resource not found")
        # deactivated (DEPROVISIONED) users stay members, as in Okta; deleted users are gone
        members = [self.population.users[i] for i in sorted(group.members)]
        return self._okta_page(
            request, [u for u in members if not u.deleted], lambda u: self._user_json("okta", u)
        )

    # == Microsoft Graph ===========================================================================
    def _graph_routes(self, app: web.Application) -> None:
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._graph_token)
        app.router.add_get("/v1.0/users/delta", self._graph_users_delta)
        app.router.add_get("/v1.0/groups/delta", self._graph_groups_delta)
        app.router.add_get("/v1.0/users", self._graph_users)
        app.router.add_get("/v1.0/groups", self._graph_groups)
        app.router.add_get("/v1.0/groups/{group_id}/members", self._graph_members)

    async def _graph_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        ok_secret = form.get("client_secret") == self.client_secret
        # Entra ID finds the app's certificate by the assertion's x5t#S256 header; PS256, as
        # Microsoft's certificate-credentials reference specifies the assertion
        ok_assertion = "client_assertion" in form and self._verify_client_assertion(
            form, header={"x5t#S256": self.certificate_thumbprint}, algorithm="PS256"
        )
        if form.get("client_id") != self.client_id or not (ok_secret or ok_assertion):
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        return self._issue_token()

    def graph_user(self, user: FakeUser, *, delta: bool) -> dict[str, Any]:
        pii = self.population.pii(user)
        body: dict[str, Any] = {
            "id": user.id,
            "displayName": f"{pii['given_name']} {pii['family_name']}",
            "givenName": pii["given_name"],
            "surname": pii["family_name"],
            "mail": user.email,
            "userPrincipalName": user.email,
            "accountEnabled": user.active,
            "mobilePhone": pii["phone"],
            "businessPhones": [pii["phone"]],
            "streetAddress": pii["street"],
            "city": pii["city"],
            "postalCode": pii["postal_code"],
            "employeeId": pii["employee_number"],
            "jobTitle": pii["title"],
            "birthday": pii["birthday"],
            "extension_abc_costCenter": pii["cost_center"],
        }
        manager = self.population.users[user.manager] if user.manager is not None else None
        if delta:
            body["manager@delta"] = (
                [{"@odata.type": "#microsoft.graph.user", "id": manager.id}] if manager else []
            )
        elif manager is not None:
            body["manager"] = {
                "@odata.type": "#microsoft.graph.user",
                "id": manager.id,
                "displayName": self.population.pii(manager)["family_name"],
            }
        return body

    def _graph_page_size(self, request: web.Request, default: int) -> int:
        prefer = request.headers.get("Prefer", "")
        size = default
        if "odata.maxpagesize=" in prefer:
            size = int(prefer.split("odata.maxpagesize=")[1].split(",")[0])
        if "$top" in request.query:
            size = int(request.query["$top"])
        return max(1, min(size, self.page_size or 999))

    def _graph_response(
        self,
        request: web.Request,
        path: str,
        objects: list[Any],
        round_id: str,
        offset: int,
        size: int,
        delta_token: str | None,
    ) -> web.Response:
        page, following = self._paged("skip", objects, offset, size)
        links: dict[str, Any] = {}
        if following is not None:
            links["@odata.nextLink"] = f"{self.base_url}{request.path}?$skiptoken={round_id}.{following}"
        elif delta_token is not None:
            links["@odata.deltaLink"] = f"{self.base_url}{request.path}?$deltatoken={delta_token}"
        head = json.dumps({"@odata.context": f"{self.base_url}/v1.0/$metadata#{path}", **links})[:-1].encode()
        body = head + b', "value": [' + b",".join(_encoded(item) for item in page) + b"]}"
        return web.Response(body=body, content_type="application/json")

    def _graph_delta_args(self, request: web.Request) -> tuple[str | None, int, int | None, int]:
        """(round, offset) of a next link, or (since, select) of a delta link / a first request. Like
        Graph, the `$select` of a round's first request holds for its delta links."""
        skip = request.query.get("$skiptoken")
        if skip:
            round_id, offset = skip.split(".")
            return round_id, int(offset), None, 0
        token = request.query.get("$deltatoken")
        if token is not None:
            since, _, index = token.partition(".")
            return None, 0, int(since), int(index or 0)
        selected = request.query.get("$select") if self.honour_select else None
        wanted = frozenset(selected.split(",")) if selected else None
        if wanted not in self._selects:
            self._selects.append(wanted)
        return None, 0, None, self._selects.index(wanted)

    def _select_of(self, index: int) -> str:
        wanted = self._selects[index] if index < len(self._selects) else None
        return ",".join(sorted(wanted)) if wanted else ""

    async def _graph_users_delta(self, request: web.Request) -> web.Response:
        round_token, offset, since, select = self._graph_delta_args(request)
        if round_token is not None and round_token not in self._rounds:
            return self._error(410, "sync state expired, restart from scratch")
        version = self.population.version
        flavour = f"graph-delta:{self._select_of(select)}" if self._select_of(select) else "graph-delta"

        def build() -> list[Any]:
            out: list[Any] = [f"{version}.{select}"]
            for user in self.population.users:
                if since is None:
                    if not user.deleted:
                        out.append(self._user_json(flavour, user))
                elif user.version > since:
                    out.append(
                        {"id": user.id, "@removed": {"reason": "changed"}}
                        if user.deleted
                        else self._user_json(flavour, user)
                    )
            return out

        round_id, objects = self._round(build, round_token)
        return self._graph_response(
            request, "users", objects[1:], round_id, offset, self._graph_page_size(request, 200), objects[0]
        )

    def _owner_note(self) -> str | None:
        """Free text naming a person, as group descriptions often do (must be dropped too)."""
        if not self.population.users:
            return None
        return "Owner " + self.population.pii(self.population.users[0])["family_name"]

    def _graph_member_ref(self, kind: str, index: int, removed: bool = False) -> dict[str, Any]:
        if kind == "user":
            ref = {"@odata.type": "#microsoft.graph.user", "id": self.population.users[index].id}
        else:
            ref = {"@odata.type": "#microsoft.graph.group", "id": self.population.groups[index].id}
        out: dict[str, Any] = dict(ref)
        if removed:
            out["@removed"] = {"reason": "deleted"}
        return out

    async def _graph_groups_delta(self, request: web.Request) -> web.Response:
        round_token, offset, since, select = self._graph_delta_args(request)
        if round_token is not None and round_token not in self._rounds:
            return self._error(410, "sync state expired, restart from scratch")
        version = self.population.version
        per_object = self.members_per_object
        selected = self._select_of(select)

        def build() -> list[Any]:
            out: list[Any] = [f"{version}.{select}"]
            for group in self.population.groups:
                if since is not None and group.version <= since:
                    continue
                if group.deleted:
                    if since is not None:
                        out.append({"id": group.id, "@removed": {"reason": "deleted"}})
                    continue
                if since is None:
                    refs = [
                        self._graph_member_ref("user", i)
                        for i in sorted(group.members)
                        if not self.population.users[i].deleted
                    ]
                    refs += [self._graph_member_ref("group", g) for g in sorted(group.subgroups)]
                else:
                    refs = [
                        self._graph_member_ref(kind, i, not added)
                        for v, kind, i, added in group.log
                        if v > since
                    ]
                # Like Graph, a large member list is split over several objects for the same group.
                for start in range(0, max(1, len(refs)), per_object):
                    body = {
                        "id": group.id,
                        "displayName": group.name,
                        "description": self._owner_note(),
                        "members@delta": refs[start : start + per_object],
                    }
                    out.append(self._selected(body, selected))
            return out

        round_id, objects = self._round(build, round_token)
        return self._graph_response(
            request, "groups", objects[1:], round_id, offset, self._graph_page_size(request, 100), objects[0]
        )

    async def _graph_users(self, request: web.Request) -> web.Response:
        skip = request.query.get("$skiptoken")
        select = request.query.get("$select", "") if self.honour_select else ""
        expand = request.query.get("$expand", "")
        if "manager" in expand:
            select += ",manager" if select else ""

        def render(user: FakeUser) -> dict[str, Any]:
            body = self._selected(self.graph_user(user, delta=False), select)
            if "manager" in body and "manager($select=id)" in expand and self.honour_select:
                body["manager"] = {k: v for k, v in body["manager"].items() if k in ("id", "@odata.type")}
            return body

        round_id, objects = self._round(
            lambda: [render(u) for u in self.population.live_users()],
            skip.split(".")[0] if skip else None,
        )
        offset = int(skip.split(".")[1]) if skip else 0
        return self._graph_response(
            request, "users", objects, round_id, offset, self._graph_page_size(request, 100), None
        )

    async def _graph_groups(self, request: web.Request) -> web.Response:
        skip = request.query.get("$skiptoken")
        round_id, objects = self._round(
            lambda: [
                {"id": g.id, "displayName": g.name, "mailNickname": g.name}
                for g in self.population.live_groups()
            ],
            skip.split(".")[0] if skip else None,
        )
        offset = int(skip.split(".")[1]) if skip else 0
        return self._graph_response(
            request, "groups", objects, round_id, offset, self._graph_page_size(request, 100), None
        )

    async def _graph_members(self, request: web.Request) -> web.Response:
        group = self.population.by_group_id.get(request.match_info["group_id"])
        if group is None or group.deleted:
            return self._error(404, "Request_ResourceNotFound")
        skip = request.query.get("$skiptoken")

        def build() -> list[Any]:
            refs: list[Any] = [
                {**self.graph_user(self.population.users[i], delta=False)}
                | {"@odata.type": "#microsoft.graph.user"}
                for i in sorted(group.members)
                if not self.population.users[i].deleted
            ]
            refs += [
                {
                    "@odata.type": "#microsoft.graph.group",
                    "id": self.population.groups[g].id,
                    "displayName": self.population.groups[g].name,
                }
                for g in sorted(group.subgroups)
            ]
            return refs

        round_id, objects = self._round(build, skip.split(".")[0] if skip else None)
        offset = int(skip.split(".")[1]) if skip else 0
        return self._graph_response(
            request, "directoryObjects", objects, round_id, offset, self._graph_page_size(request, 100), None
        )

    # == Google Workspace ==========================================================================
    def _google_routes(self, app: web.Application) -> None:
        app.router.add_post("/token", self._google_token)
        app.router.add_get("/admin/directory/v1/users", self._google_users)
        app.router.add_get("/admin/directory/v1/groups", self._google_groups)
        app.router.add_get("/admin/directory/v1/groups/{group_key}/members", self._google_members)

    async def _google_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        claims = self._verify_assertion(
            str(form.get("assertion", "")), issuer=self.service_account, audience=self.token_url
        )
        if claims is None:
            return web.json_response(
                {"error": "invalid_grant", "error_description": "Invalid JWT"}, status=400
            )
        if claims.get("sub") != self.subject:
            # domain-wide delegation impersonates an admin; without one the Directory API refuses
            return web.json_response({"error": "unauthorized_client"}, status=401)
        if "admin.directory.user.readonly" not in str(claims.get("scope", "")):
            return web.json_response({"error": "invalid_scope"}, status=400)
        return self._issue_token()

    def google_user(self, user: FakeUser) -> dict[str, Any]:
        pii = self.population.pii(user)
        manager = self.population.users[user.manager] if user.manager is not None else None
        return {
            "kind": "admin#directory#user",
            "id": user.id,
            "etag": f'"{user.version}"',
            "primaryEmail": user.email,
            "name": {
                "givenName": pii["given_name"],
                "familyName": pii["family_name"],
                "fullName": f"{pii['given_name']} {pii['family_name']}",
            },
            "isAdmin": False,
            "suspended": not user.active,
            "archived": False,
            "phones": [{"value": pii["phone"], "type": "mobile"}],
            "addresses": [
                {
                    "type": "home",
                    "streetAddress": pii["street"],
                    "locality": pii["city"],
                    "postalCode": pii["postal_code"],
                }
            ],
            "externalIds": [{"value": pii["employee_number"], "type": "organization"}],
            "organizations": [{"title": pii["title"], "costCenter": pii["cost_center"], "primary": True}],
            "relations": [{"value": manager.email, "type": "manager"}] if manager else [],
            "customSchemas": {"HR": {"birthday": pii["birthday"]}},
            "orgUnitPath": "/",
        }

    def _google_page(
        self, request: web.Request, key: str, kind: str, objects: list[Any], default: int
    ) -> web.Response:
        token = request.query.get("pageToken")
        round_id, items = self._round(lambda: objects, token.split(".")[0] if token else None)
        offset = int(token.split(".")[1]) if token else 0
        size = min(int(request.query.get("maxResults", default)), self.page_size or 500)
        page, following = self._paged("pageToken", items, offset, size)
        body: dict[str, Any] = {"kind": kind, "etag": '"e"', key: page}
        if following is not None:
            body["nextPageToken"] = f"{round_id}.{following}"
        return web.Response(body=json.dumps(body).encode(), content_type="application/json")

    async def _google_users(self, request: web.Request) -> web.Response:
        if request.query.get("customer") != "my_customer" and "domain" not in request.query:
            return self._error(400, "Bad Request: customer or domain required")
        objects = (
            []
            if request.query.get("pageToken")
            else [self.google_user(u) for u in self.population.live_users()]
        )
        return self._google_page(request, "users", "admin#directory#users", objects, 100)

    async def _google_groups(self, request: web.Request) -> web.Response:
        objects = (
            []
            if request.query.get("pageToken")
            else [
                {
                    "kind": "admin#directory#group",
                    "id": g.id,
                    "email": f"{g.name}@{self.population.domain}",
                    "name": g.name,
                    "description": "team list",
                    "directMembersCount": str(len(g.members)),
                }
                for g in self.population.live_groups()
            ]
        )
        return self._google_page(request, "groups", "admin#directory#groups", objects, 200)

    async def _google_members(self, request: web.Request) -> web.Response:
        key = request.match_info["group_key"]
        group = self.population.by_group_id.get(key)
        if group is None or group.deleted:
            return self._error(404, "Resource Not Found: groupKey")
        objects: list[Any] = []
        if not request.query.get("pageToken"):
            objects = [
                {
                    "kind": "admin#directory#member",
                    "id": self.population.users[i].id,
                    "email": self.population.users[i].email,
                    "role": "MEMBER",
                    "type": "USER",
                    "status": "ACTIVE",
                }
                for i in sorted(group.members)
                if not self.population.users[i].deleted
            ] + [
                {
                    "kind": "admin#directory#member",
                    "id": self.population.groups[g].id,
                    "email": f"{self.population.groups[g].name}@{self.population.domain}",
                    "role": "MEMBER",
                    "type": "GROUP",
                    "status": "ACTIVE",
                }
                for g in sorted(group.subgroups)
                if not self.population.groups[g].deleted
            ]
        return self._google_page(request, "members", "admin#directory#members", objects, 200)

    # == SCIM 2.0 ==================================================================================
    def _scim_routes(self, app: web.Application) -> None:
        app.router.add_get("/scim/v2/Users", self._scim_users)
        app.router.add_get("/scim/v2/Groups", self._scim_groups)

    def scim_user(self, user: FakeUser) -> dict[str, Any]:
        pii = self.population.pii(user)
        manager = self.population.users[user.manager] if user.manager is not None else None
        enterprise: dict[str, Any] = {
            "employeeNumber": pii["employee_number"],
            "costCenter": pii["cost_center"],
        }
        if manager is not None:
            enterprise["manager"] = {
                "value": manager.id,
                "displayName": self.population.pii(manager)["family_name"],
            }
        return {
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            ],
            "id": user.id,
            "externalId": pii["employee_number"],
            "userName": user.email,
            "name": {
                "givenName": pii["given_name"],
                "familyName": pii["family_name"],
                "formatted": f"{pii['given_name']} {pii['family_name']}",
            },
            "displayName": f"{pii['given_name']} {pii['family_name']}",
            "title": pii["title"],
            "emails": [
                {"value": f"private.{user.index}@mail.test", "type": "home"},
                {"value": user.email, "type": "work", "primary": True},
            ],
            "phoneNumbers": [{"value": pii["phone"], "type": "mobile"}],
            "addresses": [
                {
                    "type": "work",
                    "streetAddress": pii["street"],
                    "locality": pii["city"],
                    "postalCode": pii["postal_code"],
                }
            ],
            "active": user.active,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": enterprise,
            "meta": {"resourceType": "User", "version": f'W/"{user.version}"'},
        }

    def _scim_list(self, request: web.Request, resources: list[Any]) -> web.Response:
        try:
            start = max(1, int(request.query.get("startIndex", "1")))
            count = max(0, min(int(request.query.get("count", "100")), self.page_size or 200))
        except ValueError:
            return self._error(400, "invalidValue")
        page = resources[start - 1 : start - 1 + count]
        body = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(resources),
            "startIndex": start,
            "itemsPerPage": len(page),
            "Resources": page,
        }
        return web.Response(body=json.dumps(body).encode(), content_type="application/scim+json")

    @staticmethod
    def _scim_filter(expression: str | None, user: FakeUser) -> bool:
        """`active eq true|false`, `userName eq "x"`, `userName sw "x"`, `<attr> pr` (enough for tests)."""
        if not expression:
            return True
        parts = expression.split(" ", 2)
        attribute, op = parts[0], parts[1].lower()
        value = parts[2].strip('"') if len(parts) > 2 else ""
        actual: Any = {"active": user.active, "userName": user.email, "emails.value": user.email}.get(
            attribute
        )
        if op == "pr":
            return actual is not None
        if attribute == "active":
            return op == "eq" and actual == (value.lower() == "true")
        if op == "eq":
            return str(actual).lower() == value.lower()
        if op == "sw":
            return str(actual).lower().startswith(value.lower())
        return False

    async def _scim_users(self, request: web.Request) -> web.Response:
        expression = request.query.get("filter")
        users = [u for u in self.population.live_users() if self._scim_filter(expression, u)]
        if request.query.get("startIndex", "1") == "1":
            key = f"scim-users:{expression}"
            self._rounds[key] = [self.scim_user(u) for u in users]
        resources = self._rounds.get(f"scim-users:{expression}") or [self.scim_user(u) for u in users]
        return self._scim_list(request, resources)

    async def _scim_groups(self, request: web.Request) -> web.Response:
        def render(group: FakeGroup) -> dict[str, Any]:
            members = [
                {
                    "value": self.population.users[i].id,
                    "type": "User",
                    "display": self.population.pii(self.population.users[i])["family_name"],
                    "$ref": f"{self.base_url}/scim/v2/Users/{self.population.users[i].id}",
                }
                for i in sorted(group.members)
                if not self.population.users[i].deleted
            ]
            members += [
                {
                    "value": self.population.groups[g].id,
                    "type": "Group",
                    "display": self.population.groups[g].name,
                }
                for g in sorted(group.subgroups)
                if not self.population.groups[g].deleted
            ]
            return {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "id": group.id,
                "displayName": group.name,
                "members": members,
                "meta": {"resourceType": "Group"},
            }

        if request.query.get("startIndex", "1") == "1" or "scim-groups" not in self._rounds:
            self._rounds["scim-groups"] = [render(g) for g in self.population.live_groups()]
        return self._scim_list(request, self._rounds["scim-groups"])


async def serve(kind: str, users: int, groups: int, port: int, **options: Any) -> None:
    """Run a fake until cancelled (for the benchmark, in its own process)."""
    idp = FakeIdp(kind, Population(users, groups, nested=kind != "okta"), **options)
    idp.warm()
    await idp.start(port)
    print(
        json.dumps(
            {
                "base_url": idp.base_url,
                "api_url": idp.api_url,
                "token_url": idp.token_url,
                "api_token": idp.api_token,
                "client_id": idp.client_id,
                "client_secret": idp.client_secret,
                "private_key_pem": idp.private_key_pem,
            }
        ),
        flush=True,
    )
    await asyncio.Event().wait()
