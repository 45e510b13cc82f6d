"""flow-engine's decisions, free of I/O: Access Flows, matching, approvals, the grant state machine."""
