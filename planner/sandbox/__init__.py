"""The sandbox gateway: a real HTTP server implementing the gateway API contract.

Never imported by the core (environment, validation, diff, plan, render).

    from planner.sandbox import start_sandbox
    with start_sandbox() as sandbox:          # 127.0.0.1, a free port
        print(sandbox.url)                    # http://127.0.0.1:PORT

Modules: ``store`` (models, configurations, versions, the data file),
``faults`` (fault rules and the rate limiter), ``tokens`` (OAuth clients),
``app`` (the endpoints, without sockets), ``server`` (HTTP and
``start_sandbox``), ``commands`` (``llmplan sandbox serve``).
"""

from planner.sandbox.errors import SandboxDataError, SandboxError
from planner.sandbox.server import RunningSandbox, start_sandbox
from planner.sandbox.tokens import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    READONLY_CLIENT_ID,
    READONLY_CLIENT_SECRET,
    ClientSpec,
)

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "READONLY_CLIENT_ID",
    "READONLY_CLIENT_SECRET",
    "ClientSpec",
    "RunningSandbox",
    "SandboxDataError",
    "SandboxError",
    "start_sandbox",
]
