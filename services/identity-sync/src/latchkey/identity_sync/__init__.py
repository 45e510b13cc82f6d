"""Latchkey identity-sync: keeps identity.users.v1 / identity.groups.v1 in step with the IdP."""
