"""Layer 2, the pure core: building environments, validation, diff, safety, plans, drift.

Functions of plain data (:mod:`planner.model`) that touch no file, socket or clock.
"""
