"""The reliability checks of ``make reliability`` in a reduced size for every
test run.  Each check has one implementation, in ``benchmarks/`` (the full
runs); these tests call it with small numbers."""

from __future__ import annotations


