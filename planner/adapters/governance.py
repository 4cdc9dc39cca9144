"""Governance notifications: one signed webhook event per applied change, never lost, never fatal.

Every event goes to the environment's durable outbox (a records
:class:`~planner.adapters.records.interfaces.Outbox`) *before* it is sent; a delivery
marks it, and :meth:`GovernanceNotifier.flush` resends what is still pending
and then compacts the outbox. A failed delivery is logged and kept; it
never raises into apply. Each event carries a stable ``event_id`` (the audit
entry's id) so a receiver can drop duplicates: after a crash between a send
and its mark, an event is sent again.

Every delivery is one exchange with a total deadline (``governance.timeout_seconds``:
connecting, sending and the whole answer; :mod:`planner.gateway.deadline`),
so a receiver that is slow, trickles its answer or never answers holds a
caller for that long at most; :meth:`GovernanceNotifier.cancel` ends every
delivery in flight at once and lets no other start.

The body is the canonical JSON of the event (``schemas/governance-event.schema.json``).
Every attempt carries the Standard Webhooks headers (:mod:`planner.adapters.signing`):
``webhook-id`` is the event id, ``webhook-timestamp`` the time of this
attempt (so a late flush still verifies) and, with a secret,
``webhook-signature``. The secret never appears in logs, reprs, files or
errors.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import requests

from planner import __version__
from planner.adapters.gateway.deadline import CANCELLED, READ_TIMEOUT_MARGIN, Exchange
from planner.adapters.gateway.endpoints import is_loopback_url
from planner.adapters.gateway.failures import describe_exception
from planner.adapters.gateway.guard import GuardedAdapter
from planner.adapters.records.interfaces import Outbox
from planner.adapters.signing import parse_secrets, webhook_headers
from planner.adapters.waiting import ANNOUNCE_AFTER_SECONDS, Cancellation, announce
from planner.model.addresses import url_refusal
from planner.model.configuration import canonical_json, with_defaults
from planner.model.errors import ConfigurationError, DestinationNotAllowed, LlmplanError

log = logging.getLogger("llmplan.governance")

EVENT_TYPE = "llm_config_change"
# The audit trail's outcome → the event's, as the seed's manager reports it.
EVENT_STATUS = {"success": "success", "failure": "failed"}


def build_event(audit_entry: Mapping[str, Any], configuration: Mapping[str, Any]) -> dict[str, Any]:
    """The ``llm_config_change`` event of one update, applied or failed
    (``schemas/governance-event.schema.json``).

    ``event_id`` is the audit entry's ``audit_id``: stable across resends,
    and the key to find the change in the audit trail. ``audit_log`` is the
    entry, its outcome written ``success`` or ``failed`` (with ``error``, the
    message); ``configuration`` is what was applied, or what was refused.
    """
    audit_log = json.loads(canonical_json(dict(audit_entry)))
    status = audit_log.get("status")
    if status not in EVENT_STATUS:
        raise ValueError(f"an audit entry with status {status!r} has no governance event (only success and failure do)")
    audit_log["status"] = EVENT_STATUS[status]
    if status == "failure":
        audit_log["error"] = str(audit_log.get("error_message") or audit_log.get("error_code") or "failed")
    applied = with_defaults(configuration)
    return {
        "event_id": str(audit_log["audit_id"]),
        "event_type": EVENT_TYPE,
        "environment": audit_log.get("environment"),
        "llmplan_version": __version__,
        "audit_log": audit_log,
        "configuration_snapshot": {
            "model_id": applied.get("model_id", audit_log.get("model_id")),
            "temperature_matrix": dict(applied.get("temperature_matrix") or {}),
            "safety_filters_count": len(applied.get("safety_filters") or ()),
            "compliance_mode": applied.get("compliance_mode"),
        },
    }


@dataclass(frozen=True)
class FlushResult:
    delivered: int
    failed: int
    remaining: int

    def raise_if_undelivered(self) -> None:
        if self.remaining:
            raise LlmplanError(
                f"{self.remaining} governance event(s) could not be delivered; they stay in the outbox",
                hint="check the webhook receiver and run governance flush again",
            )


CONNECT_SECONDS = 5.0  # of a delivery's deadline, at most this long to connect


def _guarded_session() -> requests.Session:
    """A session that refuses to connect to a link-local or metadata address and keeps
    to each exchange's deadline (planner.adapters.gateway.guard)."""
    session = requests.Session()
    session.mount("https://", GuardedAdapter())
    session.mount("http://", GuardedAdapter())
    return session


def _display_url(url: str) -> str:
    """Scheme, host and port only: webhook paths and queries often embed tokens."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class GovernanceNotifier:
    """Sends events to one webhook, keeping each in a durable outbox until it is delivered.

    HTTPS is required, except for a loopback address (the sandbox's
    receiver). ``timeout`` bounds one delivery as a whole (connecting,
    sending, the whole answer). After a connection failure or timeout,
    :meth:`deliver` stops trying for ``pause_after_unreachable`` seconds and
    only queues, so an apply of 1,000 models does not wait 1,000 timeouts on
    a dead receiver; :meth:`flush` tries again.  After :meth:`cancel`,
    nothing is sent any more: events stay in the outbox.

    Thread-safe within a process. Two processes must not flush the same
    outbox at once; apply and ``governance flush`` hold the state lock.
    """

    def __init__(
        self,
        webhook_url: str,
        outbox: Outbox,
        *,
        secret: str | None = None,
        timeout: float = 5.0,
        session: requests.Session | None = None,
        pause_after_unreachable: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        parts = urlsplit(webhook_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"governance webhook_url {_display_url(webhook_url)!r} is not an http(s) URL")
        refusal = url_refusal(webhook_url)
        if refusal is not None:  # said without the URL, which may hold a password
            raise DestinationNotAllowed(f"governance webhook_url {refusal}", hint="use the receiver's https:// address; the signature (governance.secret_env) authenticates llmplan to it")
        if parts.scheme != "https" and not is_loopback_url(webhook_url):
            raise ConfigurationError(
                f"governance webhook_url must use https (got {_display_url(webhook_url)}); "
                "plain http is allowed only for loopback addresses",
                hint="use the receiver's https:// address",
            )
        self.webhook_url = webhook_url
        self.outbox = outbox
        self.timeout = timeout
        self._warnings: list[str] = []
        # parsed now, so a malformed secret stops the command before any change, not at the first send
        self._keys = parse_secrets(secret, source="the governance signing secret (governance.secret_env)") if secret else None
        self._session = session or _guarded_session()
        self._pause = pause_after_unreachable
        self._clock = clock
        self._wall_clock = wall_clock
        self._paused_until = float("-inf")
        self.cancellation = Cancellation()

    def cancel(self, reason: str = "the command is stopping") -> None:
        """Cut every delivery in flight and send nothing more (thread-safe); the events stay in the outbox."""
        self.cancellation.cancel(reason)

    def __repr__(self) -> str:
        signed = "signed" if self._keys is not None else "unsigned"
        return f"GovernanceNotifier({_display_url(self.webhook_url)!r}, {signed}, outbox={self.outbox!r})"

    @property
    def warnings(self) -> list[str]:
        """What went wrong while sending, said once each (also logged)."""
        return list(self._warnings)

    def pending(self) -> list[dict[str, Any]]:
        """Queued events not yet delivered, oldest first, each once."""
        return self.outbox.pending()

    def _warn(self, message: str) -> None:
        log.warning("%s", message)
        if message not in self._warnings:
            self._warnings.append(message)

    # --- sending -----------------------------------------------------------

    def deliver(self, event: Mapping[str, Any]) -> bool:
        """POST one event now; True if the receiver accepted it (2xx). Never raises for network or HTTP failures."""
        if self._clock() < self._paused_until or self.cancellation.cancelled:
            return False
        return self._send(event)

    def flush(self, budget: float | None = None) -> FlushResult:
        """Resend every pending event once, in order; stops early if the receiver is unreachable,
        or once ``budget`` seconds have passed (a delivery in flight then is cut at the budget's end).

        Compacts the outbox afterwards: delivered events are dropped from it.
        """
        delivered = failed = 0
        ends = self._clock() + budget if budget is not None else float("inf")
        for event in self.pending():
            left = ends - self._clock()
            if self.cancellation.cancelled or left <= 0:
                break
            if self._send(event, min(self.timeout, left)):
                delivered += 1
                continue
            failed += 1
            if self._clock() < self._paused_until:
                break  # unreachable: the rest would only wait for the same timeout
        self.outbox.compact()
        return FlushResult(delivered=delivered, failed=failed, remaining=len(self.pending()))

    def _send(self, event: Mapping[str, Any], timeout: float | None = None) -> bool:
        timeout = self.timeout if timeout is None else timeout
        event_id = str(event.get("event_id") or "")
        if not event_id:
            self._warn("a governance event without an event_id cannot be sent (receivers deduplicate by it)")
            return False
        try:
            body = canonical_json(dict(event)).encode("utf-8")
        except (TypeError, ValueError) as error:
            self._warn(f"governance event {event_id} is not plain JSON and cannot be sent ({error.__class__.__name__})")
            return False
        # the timestamp is this attempt's: a retry hours later is signed afresh and still verifies
        headers = {"Content-Type": "application/json", "User-Agent": f"llmplan/{__version__}", **webhook_headers(event_id, self._wall_clock(), body, self._keys)}
        where = _display_url(self.webhook_url)
        failure: requests.RequestException | None = None
        try:
            with Exchange(timeout, cancellation=self.cancellation) as exchange:
                try:
                    with self._session.post(
                        self.webhook_url, data=body, headers=headers, timeout=(min(CONNECT_SECONDS, timeout), timeout + READ_TIMEOUT_MARGIN), allow_redirects=False,
                    ) as response:
                        status = response.status_code
                except requests.RequestException as error:
                    failure = error
        except DestinationNotAllowed as refused:  # the name resolved to a metadata address: nothing was sent
            self._paused_until = self._clock() + self._pause
            self._warn(f"governance event {event_id} not sent: {refused.message}; kept in the outbox")
            return False
        if exchange.cut_by == CANCELLED:
            log.info("governance event %s: delivery to %s cancelled (%s); kept in the outbox", event_id, where, self.cancellation.reason)
            return False
        failure = exchange.failure() or failure  # cut off by its deadline, whatever the shut socket made requests say
        if failure is not None:
            # The exception text can quote the full URL; only a short description is logged.
            self._paused_until = self._clock() + self._pause
            # one line per event would flood a 1,000-model apply; the caller reports the count left in the outbox
            log.info("governance event %s not delivered to %s (%s); kept in the outbox", event_id, where, describe_exception(failure))
            return False
        if not 200 <= status < 300:
            log.info("governance event %s not delivered to %s (HTTP %s); kept in the outbox", event_id, where, status)
            return False
        self._paused_until = float("-inf")
        self.outbox.mark_delivered(event_id)
        return True


class Courier:
    """Delivers an apply's events on a thread of its own, so that no PUT waits for the receiver.

    Each event is already durable in the outbox when it is handed over
    (:meth:`submit` only queues it). :meth:`finish` then gives the deliveries
    still queued, and a flush of what earlier runs left, a bounded time;
    whatever is not delivered by then stays in the outbox for the next apply
    or ``llmplan governance flush``.
    """

    def __init__(self, notifier: GovernanceNotifier) -> None:
        self.notifier = notifier
        self._queue: queue.SimpleQueue[Mapping[str, Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._deliver_all, name="llmplan-governance", daemon=True)
        self._budget_ends = float("inf")
        self._thread.start()

    def submit(self, event: Mapping[str, Any]) -> None:
        self._queue.put(event)

    def cancel(self, reason: str) -> None:
        """Cut the delivery in flight and send nothing more (the events stay in the outbox)."""
        self.notifier.cancel(reason)

    def close(self) -> None:
        """Stop the thread, whatever it was doing (after :meth:`finish`, or when the command failed)."""
        self.cancel("the command is done")
        self._queue.put(None)

    def _deliver_all(self) -> None:
        try:
            while (event := self._queue.get()) is not None:
                self.notifier.deliver(event)
            left = self._budget_ends - time.monotonic()
            if left > 0 and not self.notifier.cancellation.cancelled:
                self.notifier.flush(budget=left)
        except (LlmplanError, OSError) as failure:  # the outbox cannot be written (its records failed): the command reports that
            message = failure.message if isinstance(failure, LlmplanError) else str(failure)
            log.info("governance delivery stopped: %s; the events wait in the outbox", message)  # the command reports the failure itself
            self.notifier.cancel("the outbox cannot be written")
            while self._queue.get() is not None:  # until finish() or close()
                pass

    def finish(self, budget: float) -> int:
        """Deliver what is queued and what earlier runs left, for at most ``budget`` seconds; how many events still wait."""
        self._budget_ends = time.monotonic() + budget
        self._queue.put(None)
        try:
            self._thread.join(max(min(budget, ANNOUNCE_AFTER_SECONDS), 0.0))
            left = self._budget_ends - time.monotonic()
            if self._thread.is_alive() and left > 0:
                announce(f"waiting up to {left:.1f} s more for the governance receiver at {_display_url(self.notifier.webhook_url)} (events still being delivered)")
                self._thread.join(left)
        except BaseException:  # Ctrl-C or SIGTERM while waiting: stop now
            self.cancel("the command is stopping")
            raise
        if self._thread.is_alive():
            self.cancel(f"apply ends {budget:g} s after its last change; the rest wait in the outbox")
            self._thread.join()
        return len(self.notifier.pending())

