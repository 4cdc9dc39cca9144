"""Pacing: spend the gateway's rate budget window by window, at once while it lasts.

The gateway grants each client a budget of requests per window and says so
on every answer: ``inin-ratelimit-allowed`` (the budget),
``inin-ratelimit-count`` (used in this window) and ``inin-ratelimit-reset``
(whole seconds until the window resets).  Budgets differ by org and
endpoint, so nothing is assumed: the :class:`Pacer` learns them from these
headers, and one pacer is shared by every thread of a client.

Why bursts and not a steady pace.  The gateway counts in fixed windows and
forgets the count at the reset, so spreading requests over the window buys
nothing.  The first pacer did spread them (97 % of allowed/window, evenly):
under the default 300 per minute a plan of five models waited 2 s and 100
PUTs 20 s, when the budget allowed all of them at once.  This one sends
while the window has room and, once the budget is spent, holds every thread
until the window resets.  Nothing is spaced anywhere, not even when few
requests are left in a window and many are queued: the queue waits for the
reset either way, and spacing would only delay the ones that fit.

Accounting.  Requests known used in the current window = the highest
``count`` an answer of the window reported + requests in flight + requests
the pacer could not place (no answer, no headers, or an answer that may
belong to either window around a reset).  Every unknown counts as used:
counting too many costs a little speed, too few a 429.  A request goes out
only while that total stays below ``allowed`` minus a reserve (3 %, at
least 1) for other clients sharing the client id and for counts already
stale when they arrive.  Answers may come in any order: the highest count
wins.

One request goes alone at first, and again at each new window; the others
wait for its answer, which tells the window's count and end.  Sixteen
threads starting together do not all guess; if the pacer thought a window
over too early, one request lands in it (the reserve has room for it), not
sixteen; requests that straddled the reset are in the count it reads.  A
gateway counting in sliding windows is thereby handled too, if slower:
after each hold that request reads the real count, and the pacer holds
again if the budget is still spent.

Where a window ends.  ``reset`` is measured when the gateway counted the
request, between our send and our receipt, and rounded up: "receipt +
reset" is a moment the window has surely ended by, but waiting for it costs
a round trip per window (nothing for a minute, 5 % of a one-second window).
So the pacer first goes by "send + reset": a gateway that counts every
request the same time after it is sent counts one sent that long after the
window's first in the next window.  Both get slack (5 ms + 0.5 % of the
window).  Should a window's first answer show the old window still counting
(a count above its last), the pacer goes by receipt times from then on;
that mistake costs the rest of one window, never a 429.  An answer can also
show that the window already changed, when the earliest its window can end
(send + reset - 1) is after the latest the counted one can: the pacer then
moves on without waiting for the clock (for 60 s windows; with 1 s windows
the clock decides first).

Holds.  An answer whose count reaches the budget holds everyone until its
window ends (the accounting does that).  The client also calls :meth:`hold`
for a 429 that says so, with the wait the retry policy chose.  A 429 whose
headers show room left (another limit, a passing fault) holds nobody: the
retry policy delays that request alone, as a few stray 429s must not stall
a whole apply.  A gateway that sends no budget at all is not paced.

Saying so.  A wait of more than a few seconds for a window's end is
announced on stderr (:mod:`planner.adapters.waiting`), once per window end however
many threads wait for it: ``waiting 11.8 s for the gateway's rate-limit
window (40 requests per 12 s)``.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Mapping

from planner.adapters.waiting import ANNOUNCE_AFTER_SECONDS, CANCEL_POLL_SECONDS, Cancellation, announce_wait
from planner.model.errors import Cancelled

ALLOWED_HEADER = "inin-ratelimit-allowed"
COUNT_HEADER = "inin-ratelimit-count"
RESET_HEADER = "inin-ratelimit-reset"


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name, from a requests or a plain mapping."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = header_value(headers, name)
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


@dataclass(frozen=True)
class RateLimitInfo:
    """The ``inin-ratelimit-*`` headers of one answer; a field is None when absent or garbled."""

    allowed: int | None
    count: int | None
    reset: float | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitInfo:
        allowed = _number(headers, ALLOWED_HEADER)
        count = _number(headers, COUNT_HEADER)
        return cls(
            allowed=int(allowed) if allowed is not None else None,
            count=int(count) if count is not None else None,
            reset=_number(headers, RESET_HEADER),
        )

    @property
    def exhausted(self) -> bool:
        """The answer says no request is left in this window."""
        return self.allowed is not None and self.count is not None and self.count >= self.allowed

    @property
    def has_room(self) -> bool:
        """The answer says requests are left in this window (False when it does not say)."""
        return self.allowed is not None and self.count is not None and self.count < self.allowed


DEFAULT_WINDOW_SECONDS = 60.0  # the contract's window, used only while no answer has said ``reset``
RESERVE_SHARE = 0.03
SLACK_SECONDS = 0.005
SLACK_SHARE = 0.005
ANSWER_POLL_SECONDS = 0.5  # real seconds between checks while waiting for a window's first answer


@dataclass(frozen=True)
class Slot:
    """Leave to send one request.  Return it with :meth:`Pacer.release` once answered
    (or failed), or with :meth:`Pacer.cancel` if it was never sent: the pacer
    counts it in flight until then."""

    epoch: int  # the window the pacer was counting in when it gave the slot
    sent_at: float  # pacer clock; no later than the gateway can have counted the request
    alone: bool  # the request that goes alone to read a new window's count and end
    waited: float = 0.0  # seconds the caller waited for it


@dataclass(frozen=True)
class Wait:
    """No slot now: ask again at ``until`` (pacer clock), or, when None, once an answer arrives."""

    until: float | None


class Pacer:
    """Window-aware accounting of the gateway's request budget, shared by all threads.

    ``reserve`` is the share of the budget left unspent (at least one
    request) for other clients of the same client id and for stale counts.
    ``clock`` and ``sleep`` drive every wait; tests inject fakes.  Once
    ``cancellation`` is cancelled, every thread waiting in :meth:`acquire`
    raises :class:`~planner.adapters.gateway.Cancelled` within moments.
    """

    def __init__(
        self,
        *,
        reserve: float = RESERVE_SHARE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        cancellation: Cancellation | None = None,
    ) -> None:
        if not 0.0 <= reserve < 1.0:
            raise ValueError("reserve must be in [0, 1)")
        self._reserve_share = reserve
        self._clock = clock
        self._sleep = sleep
        self._cancellation = cancellation
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)
        self._allowed: int | None = None
        self._metered = True  # False once the gateway answered without a budget
        self._window: float | None = None  # the longest reset seen
        self._by_send_time = True  # False once a window outlived its "send + reset" end
        self._held_until = -math.inf
        self._in_flight = 0
        self._alone_out = False
        # The window being counted ("epoch"): the highest count reported in
        # it, requests counted as used without a count, and the latest moment
        # it can end, by receipt and by send times (None until a counted
        # answer of it arrives).
        self._epoch = 0
        self._count = 0
        self._unplaced = 0
        self._end_by_receipt: float | None = None
        self._end_by_send: float | None = None
        self._previous_end: float | None = None
        self._previous_count = 0
        self._check_next_answer = False
        self._announced_until = -math.inf

    # --- what threads call -------------------------------------------------

    def acquire(self) -> Slot:
        """Wait until a request may go; the slot says how long that took."""
        waited = 0.0
        poll = ANSWER_POLL_SECONDS if self._cancellation is None else min(ANSWER_POLL_SECONDS, CANCEL_POLL_SECONDS)
        while True:
            self._raise_if_cancelled()
            with self._lock:
                now = self._clock()
                decision = self._decide(now)
                if isinstance(decision, Slot):
                    return replace(decision, waited=waited) if waited else decision
                if decision.until is None:
                    self._answered.wait(poll)
                    waited += max(self._clock() - now, 0.0)
                    continue
            delay = decision.until - now
            self._announce(decision.until, delay)
            if self._cancellation is not None and self._sleep is time.sleep:
                self._cancellation.wait(delay)  # the same sleep, woken by a cancel
            else:
                self._sleep(delay)
            waited += delay

    def _raise_if_cancelled(self) -> None:
        if self._cancellation is not None and self._cancellation.cancelled:
            raise Cancelled(f"cancelled while waiting for the gateway's rate-limit window: {self._cancellation.reason}")

    def try_acquire(self) -> Slot | Wait:
        """A slot if a request may go now, else when to ask again; never blocks."""
        with self._lock:
            return self._decide(self._clock())

    def release(self, slot: Slot, info: RateLimitInfo | None) -> None:
        """The request of ``slot`` ended: answered (``info`` from its headers) or not (None)."""
        with self._lock:
            now = self._clock()
            self._in_flight -= 1
            if slot.alone:
                self._alone_out = False
            self._roll_over_if_due(now)
            self._place(slot, info, now)
            self._answered.notify_all()

    def cancel(self, slot: Slot) -> None:
        """The request of ``slot`` was never sent."""
        with self._lock:
            self._in_flight -= 1
            if slot.alone:
                self._alone_out = False
            self._answered.notify_all()

    def hold(self, seconds: float) -> None:
        """Nobody sends for ``seconds`` from now (the budget is spent); announced when long."""
        with self._lock:
            self._held_until = max(self._held_until, self._clock() + max(seconds, 0.0))
            until = self._held_until
        self._announce(until, seconds)

    def _announce(self, until: float, seconds: float) -> None:
        """One line per window end, whichever thread meets it first."""
        if seconds < ANNOUNCE_AFTER_SECONDS:
            return
        with self._lock:
            if until <= self._announced_until + 1.0:
                return
            self._announced_until = until
            budget = f" ({self._allowed} requests per {self._window_length():g} s)" if self._allowed is not None else ""
        announce_wait(seconds, f"the gateway's rate-limit window{budget}")

    # --- what it learnt, for logs, benchmarks and tests --------------------

    @property
    def budget(self) -> tuple[int, float] | None:
        """(allowed, window seconds) as learnt, or None."""
        with self._lock:
            if self._allowed is None:
                return None
            return self._allowed, self._window_length()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    # --- the decisions, under the lock ----------------------------------------

    def _decide(self, now: float) -> Slot | Wait:
        self._roll_over_if_due(now)
        if now < self._held_until:
            return Wait(self._held_until)
        if not self._metered:
            return self._grant(now, alone=False)
        new_window_at = self._new_window_at()
        if new_window_at is None:
            # Nothing known of this window yet: one request finds out.
            if self._alone_out:
                return Wait(None)
            return self._grant(now, alone=True)
        if self._count + self._in_flight + self._unplaced < self._limit():
            return self._grant(now, alone=False)
        return Wait(new_window_at)

    def _grant(self, now: float, *, alone: bool) -> Slot:
        self._in_flight += 1
        self._alone_out = self._alone_out or alone
        return Slot(epoch=self._epoch, sent_at=now, alone=alone)

    def _limit(self) -> int:
        allowed = self._allowed or 1
        reserve = math.ceil(round(allowed * self._reserve_share, 6))
        if self._reserve_share > 0:
            reserve = max(reserve, 1)
        return allowed - min(reserve, allowed - 1)

    def _window_length(self) -> float:
        return self._window or DEFAULT_WINDOW_SECONDS

    def _new_window_at(self) -> float | None:
        """When the next window may be counted in, or None while this one's end is unknown."""
        if self._end_by_receipt is None:
            return None
        end = self._end_by_receipt
        if self._by_send_time and self._end_by_send is not None:
            end = min(end, self._end_by_send)
        return end + SLACK_SECONDS + SLACK_SHARE * self._window_length()

    def _roll_over_if_due(self, now: float) -> None:
        new_window_at = self._new_window_at()
        if new_window_at is not None and now >= new_window_at:
            self._next_window()
            self._check_next_answer = True

    def _next_window(self) -> None:
        self._previous_end = self._end_by_receipt
        self._previous_count = self._count
        self._epoch += 1
        self._count = 0
        self._unplaced = 0
        self._end_by_receipt = None
        self._end_by_send = None
        self._check_next_answer = False

    def _place(self, slot: Slot, info: RateLimitInfo | None, now: float) -> None:
        """Count one ended request in the window it belongs to."""
        if info is None or info.allowed is None or info.allowed <= 0:
            if info is not None and self._allowed is None:
                self._metered = False  # the gateway answers without a budget: nothing to pace by
            self._unplaced += 1
            return
        self._allowed = info.allowed
        self._metered = True
        if info.reset is not None and info.reset > 0:
            self._window = max(self._window or 0.0, info.reset)
        if info.count is None:
            self._unplaced += 1
            return
        # The earliest the answer's window can end: reset was rounded, and
        # counted no earlier than we sent.
        earliest_end = slot.sent_at + info.reset - 1 if info.reset is not None and info.count >= 1 else None
        if slot.epoch != self._epoch:
            after_previous = (
                slot.epoch == self._epoch - 1
                and earliest_end is not None
                and self._previous_end is not None
                and earliest_end > self._previous_end
            )
            if not after_previous:
                self._unplaced += 1  # the old window's or this one's: counted here to be safe
                return
        if earliest_end is not None and self._end_by_receipt is not None and earliest_end > self._end_by_receipt:
            self._next_window()  # the headers show a later window than the one counted
        if info.count < 1:
            return  # nothing counted (an injected answer before any request): says nothing of the window's end
        if self._check_next_answer:
            self._check_next_answer = False
            if info.count > self._previous_count:
                self._by_send_time = False  # the window we took for over was still counting
        self._count = max(self._count, info.count)
        reset = info.reset if info.reset is not None else self._window_length()
        self._end_by_receipt = _earlier(self._end_by_receipt, now + reset)
        self._end_by_send = _earlier(self._end_by_send, slot.sent_at + reset)


def _earlier(known: float | None, candidate: float) -> float:
    return candidate if known is None else min(known, candidate)
