"""Test and benchmark support: deterministic IdP populations and fake Okta / Graph / Google / SCIM
servers that follow the real APIs' shapes, paging, errors and throttling. Not used at run time."""

from .fake_idp import FakeIdp, FaultPlan
from .population import Population

__all__ = ["FakeIdp", "FaultPlan", "Population"]
