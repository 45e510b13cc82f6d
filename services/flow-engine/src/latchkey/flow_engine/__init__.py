"""Latchkey flow-engine: Access Flows as code, requests, multi-step approvals, the grant lifecycle."""
