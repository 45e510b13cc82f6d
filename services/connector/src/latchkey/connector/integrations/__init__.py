"""Integrations: one module per target type, each registering its class in `REGISTRY`."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable

from .base import (
    REGISTRY,
    AccessSpec,
    GrantOutcome,
    Integration,
    IntegrationError,
    InventoryItem,
    RevokeOutcome,
    register,
)

__all__ = [
    "REGISTRY",
    "AccessSpec",
    "GrantOutcome",
    "Integration",
    "IntegrationError",
    "InventoryItem",
    "RevokeOutcome",
    "load_builtin_integrations",
    "register",
]

log = logging.getLogger(__name__)

BUILTIN = ("noop", "postgresql", "aws", "kubernetes", "gcp", "azure")


def load_builtin_integrations(types: Iterable[str] | None = None) -> dict[str, type[Integration]]:
    """Import built-in integration modules so they register: those of `types` (lazily, since the cloud
    SDKs are slow to import), or all. A module that is absent is skipped; a broken one raises."""
    for name in BUILTIN if types is None else [t for t in types if t in BUILTIN]:
        if name in REGISTRY:
            continue
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            log.debug("integration module %s not present", name)
    return REGISTRY
