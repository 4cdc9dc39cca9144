"""The sandbox gateway: a real HTTP server implementing the gateway API contract.

It stands apart from llmplan: it imports only :mod:`planner.model` and its
own modules, and only the application (an environment with
``gateway: {sandbox: true}``) and the CLI (``llmplan sandbox``) start it.

    from planner.sandbox import start_sandbox
    with start_sandbox() as sandbox:          # 127.0.0.1, a free port
        print(sandbox.url)                    # http://127.0.0.1:PORT

Modules: ``store`` (models, configurations, versions, the data file),
``rules`` (what the sandbox accepts, from the schema files and its own
rules; never the client's ``planner.core.validation``), ``openapi`` (the served
document, whose schemas judge the admin bodies), ``faults`` (fault rules and
the rate limiter), ``tokens`` (OAuth clients), ``routing`` (requests, the
route table and what the pipeline learns of a request), ``app`` (the
pipeline and the API, without sockets), ``admin`` (the ``/__sandbox/``
endpoints), ``webhook`` (the governance receiver's own signature check),
``server`` (HTTP and ``start_sandbox``). The ``llmplan sandbox`` commands
are :mod:`planner.cli.sandbox`.
"""

from planner.sandbox.errors import SandboxDataError, SandboxError
from planner.sandbox.server import RunningSandbox, start_sandbox
from planner.sandbox.tokens import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, READONLY_CLIENT_ID, READONLY_CLIENT_SECRET, ClientSpec

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
