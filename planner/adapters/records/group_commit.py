"""Group commit: writes that arrive while one durable write is in flight share the next one.

The way PostgreSQL and SQLite's WAL batch commits: the first caller to find
no flush in progress becomes the leader and flushes everything queued so far
in one durable write (one fsync, one transaction); callers arriving
meanwhile queue up and are flushed together by the next leader. Nobody is
told "recorded" before the flush that holds their write: the promise is per
write, the cost per batch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Generic, Sequence, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Ticket(Generic[Item, Result]):
    item: Item
    done: bool = False
    result: Result | None = None
    error: BaseException | None = None


class GroupCommit(Generic[Item, Result]):
    """``submit(item)`` returns once ``flush`` has made ``item`` durable.

    ``flush(items)`` receives every item queued since the last flush, in
    arrival order, and returns one result per item, or an exception (for
    that item alone) in its place; an exception it raises fails the whole
    batch. Batches are flushed one at a time, in order.
    """

    def __init__(self, flush: Callable[[Sequence[Item]], Sequence[Result | BaseException]]) -> None:
        self._flush = flush
        self._condition = threading.Condition()
        self._queue: list[_Ticket[Item, Result]] = []
        self._flushing = False
        self.batches = 0  # flushes made, for the tests and benchmarks that count durable writes

    def submit(self, item: Item) -> Result:
        ticket: _Ticket[Item, Result] = _Ticket(item)
        with self._condition:
            self._queue.append(ticket)
            while self._flushing and not ticket.done:
                self._condition.wait()
            if ticket.done:
                return self._outcome(ticket)
            batch, self._queue = self._queue, []
            self._flushing = True
        try:
            results = self._flush([queued.item for queued in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a group commit flushed {len(batch)} items but returned {len(results)} results")
            outcomes: list[tuple[Result | None, BaseException | None]] = [(None, result) if isinstance(result, BaseException) else (result, None) for result in results]
        except BaseException as failure:  # the whole batch failed, KeyboardInterrupt included: nobody is told "recorded"
            outcomes = [(None, failure)] * len(batch)
        with self._condition:
            for queued, (result, error) in zip(batch, outcomes, strict=True):
                queued.result, queued.error, queued.done = result, error, True
            self.batches += 1
            self._flushing = False
            self._condition.notify_all()
        return self._outcome(ticket)

    @staticmethod
    def _outcome(ticket: _Ticket[Item, Result]) -> Result:
        if ticket.error is not None:
            raise ticket.error
        assert ticket.result is not None
        return ticket.result
