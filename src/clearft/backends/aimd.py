"""Adaptive concurrency for HTTP backends: additive increase, multiplicative decrease.

The rule, as TCP's congestion window but counted in requests in flight:

* slow start: from ``start`` (4) the limit doubles each time a full window of requests
  (as many as the limit) has succeeded, up to ``slow_start_until`` (16);
* then +1 per successful request, never above ``maximum`` (256, configurable);
* a congestion signal (HTTP 429 or 503, or a timeout: a server that queues instead of
  refusing) halves it, never below 1, and slow start is over for good. Only one halving per
  window: requests sent before the last halving that come back throttled do not halve
  again (each request carries the ``epoch`` it was sent in), so 16 requests throttled at
  the same moment halve the limit once, not 16 times;
* a throttled reply may name a pause (Retry-After, else backoff): every thread waits it
  out before its next request, instead of each sleeping on its own and coming back at
  once.

``on_success`` / ``on_congestion`` are the arithmetic (tested without threads);
``acquire`` / ``release`` wrap them in a condition variable for the worker threads.
"""

from __future__ import annotations

import threading
import time

OK, CONGESTION, OTHER = "ok", "congestion", "other"


class AIMD:
    def __init__(self, start: int = 4, slow_start_until: int = 16, maximum: int = 256) -> None:
        self.maximum = max(1, int(maximum))
        self.limit = min(max(1, int(start)), self.maximum)
        self.threshold = min(max(1, int(slow_start_until)), self.maximum)
        self.epoch = 0  # bumped by each halving
        self.in_flight = 0
        self.peak = self.limit  # the highest limit reached
        self.peak_in_flight = 0
        self.successes = 0
        self.congestions = 0
        self.halvings = 0
        self._window = 0  # successes since the last doubling (slow start)
        self._paused_until = 0.0
        self._cond = threading.Condition()

    # -- the arithmetic -----------------------------------------------------------

    def on_success(self) -> None:
        self.successes += 1
        if self.limit < self.threshold:  # slow start
            self._window += 1
            if self._window >= self.limit:
                self.limit = min(2 * self.limit, self.threshold)
                self._window = 0
        else:
            self.limit = min(self.limit + 1, self.maximum)
        self.peak = max(self.peak, self.limit)

    def on_congestion(self, epoch: int) -> bool:
        """Halve the limit if the request was sent since the last halving; True if it did."""
        self.congestions += 1
        if epoch != self.epoch:
            return False
        self.limit = max(1, self.limit // 2)
        self.threshold = self.limit  # from here on, +1 per success
        self._window = 0
        self.epoch += 1
        self.halvings += 1
        return True

    # -- the gate -----------------------------------------------------------------

    def acquire(self) -> int:
        """Wait for a free slot (and the end of any pause); returns the epoch to report."""
        with self._cond:
            while True:
                wait = self._paused_until - time.monotonic()
                if wait <= 0 and self.in_flight < self.limit:
                    break
                self._cond.wait(timeout=wait if wait > 0 else None)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            return self.epoch

    def release(self, epoch: int, outcome: str, pause: float = 0.0) -> None:
        with self._cond:
            self.in_flight -= 1
            if outcome == OK:
                self.on_success()
            elif outcome == CONGESTION:
                self.on_congestion(epoch)
                if pause > 0:
                    self._paused_until = max(self._paused_until, time.monotonic() + pause)
            free = self.limit - self.in_flight
            if free > 0:
                self._cond.notify(free)

    def snapshot(self) -> dict[str, int]:
        with self._cond:
            return {
                "limit": self.limit,
                "max": self.maximum,
                "peak_limit": self.peak,
                "peak_in_flight": self.peak_in_flight,
                "congestion_signals": self.congestions,
                "halvings": self.halvings,
            }
