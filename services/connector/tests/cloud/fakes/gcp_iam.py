"""A fake of the Cloud Resource Manager v1 project IAM API and of Google's OAuth token endpoint.

`POST /v1/projects/{p}:getIamPolicy` and `:setIamPolicy` follow the real API: policies carry an etag,
and a set with a stale etag is refused with 409 ABORTED (the signal to re-read and retry). `race_next`
makes "another writer" change the policy right after the next read, to exercise that retry.
`POST /token` accepts a service-account JWT assertion and returns an access token, as oauth2 does.
"""

from __future__ import annotations

import base64
import copy
import secrets
from typing import Any

from .http_api import FakeHttpApi, Request, Response


class FakeCloudResourceManager(FakeHttpApi):
    def __init__(self) -> None:
        super().__init__()
        self.policies: dict[str, dict[str, Any]] = {}
        self._serial: dict[str, int] = {}
        self.tokens: set[str] = set()
        self.race_next = 0
        self.set_calls = 0
        self.route("POST", r"/token")(self._token)
        self.route("POST", r"/v1/projects/(?P<project>[a-z][a-z0-9-]{4,28}[a-z0-9]):getIamPolicy")(self._get)
        self.route("POST", r"/v1/projects/(?P<project>[a-z][a-z0-9-]{4,28}[a-z0-9]):setIamPolicy")(self._set)

    def add_project(self, project: str, bindings: list[dict[str, Any]] | None = None) -> None:
        with self.lock:
            self.policies[project] = {"version": 1, "bindings": bindings or []}
            self._bump(project)

    def members(self, project: str, role: str) -> list[str]:
        with self.lock:
            for binding in self.policies[project]["bindings"]:
                if binding["role"] == role and "condition" not in binding:
                    return sorted(binding["members"])
            return []

    def authorize(self, request: Request) -> Response | None:
        if request.path == "/token":
            return None
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.tokens:
            return _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        return None

    def _bump(self, project: str) -> None:
        self._serial[project] = self._serial.get(project, 0) + 1
        self.policies[project]["etag"] = base64.b64encode(
            f"{project}:{self._serial[project]}".encode()
        ).decode()

    def _token(self, request: Request) -> Response:
        form = dict(pair.split("=", 1) for pair in request.body.decode().split("&") if "=" in pair)
        if "assertion" not in form:
            return Response(400, {"error": "invalid_grant", "error_description": "missing assertion"})
        token = f"ya29.fake-{secrets.token_hex(8)}"
        self.tokens.add(token)
        return Response(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _get(self, request: Request) -> Response:
        project = request.params["project"]
        if project not in self.policies:
            return _error(
                403, "PERMISSION_DENIED", f"The caller does not have permission on project {project}"
            )
        policy = copy.deepcopy(self.policies[project])
        if self.race_next > 0:
            self.race_next -= 1
            self.policies[project]["bindings"].append(
                {"role": "roles/logging.viewer", "members": ["user:racer@example.com"]}
            )
            self._bump(project)
        return Response(200, policy)

    def _set(self, request: Request) -> Response:
        project = request.params["project"]
        self.set_calls += 1
        if project not in self.policies:
            return _error(
                403, "PERMISSION_DENIED", f"The caller does not have permission on project {project}"
            )
        policy = request.json()["policy"]
        if policy.get("etag") and policy["etag"] != self.policies[project]["etag"]:
            return _error(
                409,
                "ABORTED",
                "There were concurrent policy changes. Please retry the whole read-modify-write.",
            )
        self.policies[project] = {"version": policy.get("version", 1), "bindings": policy.get("bindings", [])}
        self._bump(project)
        return Response(200, copy.deepcopy(self.policies[project]))


def _error(code: int, status: str, message: str) -> Response:
    return Response(code, {"error": {"code": code, "message": message, "status": status}})
