"""Cross-service test support: services as processes, the bus, the whole system wired together."""
