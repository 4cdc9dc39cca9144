"""Layer 4, the application: one orchestrator per command, over the core and the adapters.

Progress and questions go out through the small hooks interfaces of
:mod:`planner.app.hooks`, which the CLI implements; nothing here calls up.
"""
