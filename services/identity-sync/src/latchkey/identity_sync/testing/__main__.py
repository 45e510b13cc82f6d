"""`python -m latchkey.identity_sync.testing okta|graph|google|scim USERS GROUPS [PORT]`: run a fake IdP."""

from __future__ import annotations

import asyncio
import sys

from .fake_idp import serve

if __name__ == "__main__":
    kind, users, groups = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    port = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    asyncio.run(serve(kind, users, groups, port))
