"""Fixtures shared by the cross-service suites (e2e, faults, security).

The repository root goes on sys.path so `tests.support` imports under pytest's importlib mode (the
benchmarks and the demo import the same support code).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
