"""Latchkey expiry: durable timers that end access on time and retry revocation until it holds."""
