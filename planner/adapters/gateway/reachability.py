"""Whether anything has ever answered at the gateway's address, and since when nothing has.

Until the gateway answers once, nothing is known to be there: every
thread's unanswered attempts spend one shared budget (5 s when every one
failed to connect, else the deadline), and once a request gives up, every
later one fails at once. After an answer, a request that gets none is the
breaker's and its own deadline's business, not this.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Silence:
    """The run of unanswered attempts since nothing answered: how long, how many, the last failure."""

    seconds: float
    attempts: int
    last: str
    budget: float  # what the run may last before every request gives up


class Reachability:
    """Thread-safe; one per client."""

    def __init__(self, *, clock: Callable[[], float], connect_budget: float, deadline: float) -> None:
        self._clock = clock
        self._connect_budget = connect_budget
        self._deadline = deadline
        self._lock = threading.Lock()
        self.answered = False  # the gateway answered at least once: it exists at this address
        self._since: float | None = None
        self._attempts = 0
        self._last = ""
        self._unreachable = True  # every unanswered attempt failed to connect (then the 5 s budget applies)
        self._abandoned = False  # a request gave up on it: every later one fails at once

    @property
    def since(self) -> float | None:
        """When the run of unanswered attempts began (None once the gateway answered)."""
        with self._lock:
            return self._since

    def heard(self) -> None:
        with self._lock:
            self.answered = True
            self._since = None
            self._attempts = 0

    def unheard(self, started: float, what: str, *, unreachable: bool) -> None:
        with self._lock:
            if self.answered:
                return  # the breaker and each request's own deadline handle a gateway that answered before
            if self._since is None:
                self._since = started
            self._attempts += 1
            self._last = what
            self._unreachable = self._unreachable and unreachable

    def abandon_unless_answered(self) -> None:
        """A request gave up: unless the gateway ever answered, so does every later one."""
        with self._lock:
            self._abandoned = not self.answered

    def given_up(self, *, now: bool = False) -> Silence | None:
        """The silence that ends every request (or ``now``, when the breaker refuses one); None while there is hope."""
        with self._lock:
            if self.answered or self._since is None:
                return None
            seconds = self._clock() - self._since
            budget = self._connect_budget if self._unreachable else self._deadline
            if seconds < budget and not now and not self._abandoned:
                return None
            return Silence(seconds, self._attempts, self._last, budget)
