"""Latchkey connector: runs in the customer's cloud and applies org-owned templates to its systems."""
