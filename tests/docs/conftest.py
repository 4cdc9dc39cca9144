"""The docs tests import their helpers from docs_helpers.py beside this file."""

from __future__ import annotations


