"""The sandbox gateway: a real HTTP server implementing the gateway API contract.

Never imported by the core (environment, validation, diff, plan, render).

    from planner.sandbox import start_sandbox
    with start_sandbox() as sandbox:          # 127.0.0.1, a free port
        print(sandbox.url)                    # http://127.0.0.1:PORT

Modules: ``store`` (models, configurations, versions, the data file),
``rules`` (what the sandbox accepts, from the schema files and its own
rules; never the client's ``planner.core.validation``), ``openapi`` (the served
document, whose schemas judge the admin bodies), ``faults`` (fault rules and
the rate limiter), ``tokens`` (OAuth clients), ``routing`` (requests and the
route table), ``app`` (the pipeline and the API, without sockets), ``admin``
(the ``/__sandbox/`` endpoints), ``webhook`` (the governance receiver's
signature check), ``server`` (HTTP and ``start_sandbox``),
``commands`` (``llmplan sandbox serve`` and ``edit``).
"""

from typing import Any

# Names are imported on first use (PEP 562): `llmplan --help` lists the
# `sandbox` command without loading the HTTP server and its dependencies.
_EXPORTS = {
    "SandboxDataError": "planner.sandbox.errors",
    "SandboxError": "planner.sandbox.errors",
    "RunningSandbox": "planner.sandbox.server",
    "start_sandbox": "planner.sandbox.server",
    "DEFAULT_CLIENT_ID": "planner.sandbox.tokens",
    "DEFAULT_CLIENT_SECRET": "planner.sandbox.tokens",
    "READONLY_CLIENT_ID": "planner.sandbox.tokens",
    "READONLY_CLIENT_SECRET": "planner.sandbox.tokens",
    "ClientSpec": "planner.sandbox.tokens",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'planner.sandbox' has no attribute {name!r}")


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
