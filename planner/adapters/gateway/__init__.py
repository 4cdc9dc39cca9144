"""The gateway client: the only code of llmplan that talks HTTP to the gateway.

Modules, each usable alone:

- ``endpoints``: where the gateway is (region map, base URL, the
  ``LLMPLAN_GATEWAY_URL`` override, HTTPS unless loopback) and the OAuth
  client credentials from the environment.
- ``retry``: :class:`~planner.adapters.gateway.retry.RetryPolicy`, the immutable answer
  to "retry this?" and "how long to wait?".
- ``pacing``: :class:`~planner.adapters.gateway.pacing.Pacer`, the rate limiter shared
  by all threads, learning the budget from the ``inin-ratelimit-*`` headers.
- ``breaker``: :class:`~planner.adapters.gateway.breaker.CircuitBreaker`, which stops
  sending to a gateway that keeps failing.
- ``deadline``: one total deadline per exchange (connect, send, the whole
  answer) kept by a watchdog that shuts the socket down, and cancellation
  of every exchange in flight; the governance notifier uses it too.
- ``guard``, ``transport``, ``watch``, ``wire``: the HTTP session (no
  metadata or link-local address, each socket watched by its exchange), one
  attempt sent and counted, the waiting line of a slow answer, the API's
  JSON shapes.
- ``auth``: the cached, single-flight OAuth client-credentials token.
- ``failures``: Genesys error bodies and transport failures turned into
  :mod:`planner.model.errors` classes, with where the address came from.
- ``reachability`` and ``requester``: the loop every request goes through
  (token, pacer, breaker, send, retry policy, deadlines), and the shared
  budget while nothing has ever answered.
- ``outcomes``: a PUT whose answer was lost, read back and judged.
- ``paging``, ``live``: every model, page by page, and the live snapshot a plan compares with.
- ``client``: :class:`~planner.adapters.gateway.client.GatewayClient`, the typed calls.

Nothing is imported here, so ``import planner.adapters.gateway.endpoints`` stays
cheap (no ``requests``) for commands that only resolve an address.
"""
