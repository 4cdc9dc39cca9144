"""Layer 5, rendering: plans, drift reports, records and errors for people and machines.

Renderers decide nothing: each takes plain data and a writable text stream
(or returns lines). Output is deterministic (sorted by address, then field
path) so two runs over the same input print the same bytes, and the JSON
rendering of a plan is the very document a saved plan holds. Text and
markdown show what came from files, the gateway or a saved plan through
:func:`~planner.model.printable.printable`, so a value cannot drive the
terminal. Modules: ``plan``, ``drift``, ``records`` (state, audit, apply
reports), ``errors``, ``validation``, ``charset`` (ASCII off UTF-8),
``common`` (what they share).
"""
