"""Shared plumbing of Latchkey services: settings, Kafka, outbox/inbox, dead letters, signing, health."""

from .consuming import Batch, DeadLetterWriter, Received, TransientError, subscribe
from .db import ServiceTables, make_engine, make_sessions
from .kafka import ensure_topics, make_broker, make_producer
from .service import Service
from .settings import ServiceSettings
from .signing import CommandRefused, CommandSigner, CommandVerifier
from .unit_of_work import UnitOfWork

__all__ = [
    "Batch",
    "CommandRefused",
    "CommandSigner",
    "CommandVerifier",
    "DeadLetterWriter",
    "Received",
    "Service",
    "ServiceSettings",
    "ServiceTables",
    "TransientError",
    "UnitOfWork",
    "ensure_topics",
    "make_broker",
    "make_engine",
    "make_producer",
    "make_sessions",
    "subscribe",
]
