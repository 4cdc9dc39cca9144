"""The ``llmplan`` command line: parsing, prompts, output and exit codes.

Only wiring lives here. Each command calls one function of
``planner.app.context`` and renders what it returns with ``planner.render``.
Heavy modules (requests, jsonschema, deepdiff) are imported inside commands
so ``--help`` and ``--version`` stay fast. Errors become exit codes in
:func:`planner.cli.app.main`, and only there.
"""

from planner.cli.app import cli, main

__all__ = ["cli", "main"]
