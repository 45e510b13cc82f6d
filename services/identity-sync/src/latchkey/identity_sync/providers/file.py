"""The file provider: a YAML directory for the demo and small teams.

    users:  [{id, email, active (default true), manager (user id)}]
    groups: [{id, name, members: [user ids], groups: [nested group ids]}]

Any other key (names, phones, ...) is ignored by the parser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import yaml
from pydantic import Field, ValidationError

from ..domain.model import IdentityGroup, IdentityUser, IdpPayload
from .base import IdentityProvider, ProviderError


class FileUser(IdpPayload):
    id: str = Field(min_length=1)
    email: str = Field(min_length=3)
    active: bool = True
    manager: str | None = None


class FileGroup(IdpPayload):
    id: str = Field(min_length=1)
    name: str | None = None
    members: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)


class FileDirectory(IdpPayload):
    users: list[FileUser] = Field(default_factory=list)
    groups: list[FileGroup] = Field(default_factory=list)


class FileProvider(IdentityProvider):
    name = "file"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._path = path

    def _load(self) -> FileDirectory:
        try:
            raw = yaml.safe_load(self._path.read_text()) or {}
            return FileDirectory.model_validate(raw)
        except (OSError, yaml.YAMLError) as exc:
            raise ProviderError(f"cannot read directory file {self._path}: {type(exc).__name__}") from None
        except ValidationError as exc:
            where = sorted({".".join(map(str, e["loc"])) for e in exc.errors(include_input=False)})
            raise ProviderError(f"directory file {self._path} is invalid at {where[:5]}") from None

    async def users(self) -> AsyncIterator[IdentityUser]:
        for user in self._load().users:
            yield IdentityUser(user.id, user.email, user.active, user.manager)

    async def groups(self) -> AsyncIterator[IdentityGroup]:
        for group in self._load().groups:
            yield IdentityGroup(
                group.id, group.name or group.id, frozenset(group.members), frozenset(group.groups)
            )
