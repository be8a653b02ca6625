"""When a prompt prefix llama.cpp took from a slot's cache gives the same result as a fresh
evaluation, so the reproducible mode can reuse cached prefixes. Pure: no model, no I/O.

Measured on this build with one slot (bench/results/scoring.md, session 18): a prompt split
anywhere between cache and fresh evaluation gives bit-identical replies, as long as no token
was evaluated as a batch of one row (ggml takes another matrix-product path for a single
row). Calls sent beside each other break it: llama.cpp splits a batch into micro-batches
holding equally many tokens of each sequence, so a prompt's first new token can go through as
a single row that the reply does not show (confidences moved by up to 0.049, session 18). So
the backend reuses only with its calls one at a time (any number of slots: bit-identical,
session 19, bench/llamacpp_prefix_reuse.py). Three ways to a one-row token remain, each
visible in llama.cpp's reply (``timings.cache_n``, the tokens it reused):

* the whole prompt was cached: the server re-evaluates its last token alone, to get logits;
* the reused prefix reaches into a slot's *generated* tokens, decoded one row at a time (a
  prompt that continues an earlier reply);
* the evaluated part ends in a single-row micro-batch (its length is 1 more than a multiple
  of the micro-batch size) where the fresh evaluation's does not, or the other way round.

The guard accepts a reply only when none of them can have happened; otherwise the backend
sends the request again with ``cache_prompt: false``, which is exactly the fresh evaluation.
It knows what the slots may hold from the prompts sent (a slot keeps the last prompt it
served; n_cmpl copies a prompt into other slots): the slot that served a reply holds a prompt
sharing at least the reused tokens with it, and every such prompt must be clean that far --
one the guard accepted or evaluated afresh, or a refused one only up to where it went wrong.
A prompt the new one extends may still sit in a slot with its generated tokens after it, so
reuse past its end is refused. When only a prompt still in flight can explain a reuse (its
slot idle, its reply not yet read), the reply waits for it to be settled. The server's RAM
prompt cache, which could bring back any older slot state, is off wherever the guard is on
(``llamacpp_start``). What is left: a reply whose reuse a remembered clean prompt explains is
accepted even if the serving slot held a prompt the guard has forgotten (it remembers the
last 64 clean and 1024 refused ones; with one slot only the last prompt matters, while with
more a slot the server never picked can keep an older one).
"""

from __future__ import annotations

import itertools
import threading
from array import array
from collections import deque
from collections.abc import Sequence

# Clean prompts remembered as sources. A slot keeps the last prompt it served until another
# replaces it; a prefix found only in an older one is not trusted (a fresh redo).
DEFAULT_MEMORY = 64
# Refused prompts are remembered longer: forgetting one could trust its slot.
POISON_MEMORY = 1024
# How long a reply waits for an in-flight prompt it may have reused to be settled.
WAIT_SECONDS = 60.0


WIDTH = array("i").itemsize  # bytes a packed token takes


def pack(ids: Sequence[int]) -> bytes:
    """Token ids as bytes, so that prefixes compare at C speed."""
    return array("i", ids).tobytes()


def common_prefix(a: bytes, b: bytes) -> int:
    """How many leading tokens two packed prompts share (binary search over memcmp)."""
    lo, hi = 0, min(len(a), len(b)) // WIDTH
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid * WIDTH] == b[:mid * WIDTH]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class PromptReuseGuard:
    """Decides whether a reply computed on a partly cached prompt equals a fresh one.

    Use: ``ticket = guard.begin(ids)`` before sending a prompt, ``guard.end(ticket, cached)``
    with the reply's reused-token count (0 for a fresh evaluation, None when the call failed
    or the reply does not say).
    """

    def __init__(self, ubatch: int, memory: int = DEFAULT_MEMORY, wait_seconds: float = WAIT_SECONDS) -> None:
        self.ubatch = max(1, int(ubatch))
        self.wait_seconds = wait_seconds
        self._sources: deque[bytes] = deque(maxlen=memory)
        # (prompt, index): a slot may hold this prompt, clean only before index
        self._poisoned: deque[tuple[bytes, int]] = deque(maxlen=POISON_MEMORY)
        self._in_flight: dict[int, bytes] = {}
        self._tickets = itertools.count()
        self._changed = threading.Condition()

    def _known(self) -> list[bytes]:
        return [*self._sources, *(bad for bad, _ in self._poisoned), *self._in_flight.values()]

    def may_reuse(self, ids: Sequence[int]) -> bool:
        """False when a slot may hold (nearly) this whole prompt: the server would then
        re-evaluate its last token alone, so ask afresh at once instead of wasting a reply."""
        key = pack(ids)
        with self._changed:
            return all(common_prefix(key, q) < len(ids) - 1 for q in self._known())

    def begin(self, ids: Sequence[int]) -> int:
        """Register a prompt about to be sent; returns the ticket for `end`."""
        with self._changed:
            ticket = next(self._tickets)
            self._in_flight[ticket] = pack(ids)
            return ticket

    def end(self, ticket: int, cached: int | None) -> bool:
        """Settle a sent prompt: True when its reply equals the fresh evaluation's (`cached`
        leading tokens were reused; 0: evaluated afresh); False: ask afresh. None: the call
        failed, and what its slot now holds is trusted no further than a clean prompt explains."""
        with self._changed:
            key = self._in_flight[ticket]
            n = len(key) // WIDTH
            if cached == 0:
                return self._settle(ticket, key, n, 0, poisoned_from=None)
            reused = n if cached is None else max(0, int(cached))
            if self._clean_extent(key) < reused and cached is not None:
                # Only a prompt still in flight (its slot idle, its reply not read yet) can
                # explain the reuse: wait until the ones sent before this are settled.
                self._changed.wait_for(lambda: not self._earlier_candidates(ticket, key, reused),
                                       timeout=self.wait_seconds)
            clean = self._clean_extent(key)
            dirty = reused
            others = [*self._sources, *(bad for bad, _ in self._poisoned),
                      *(q for t, q in self._in_flight.items() if t != ticket)]
            for q in others:
                shared = common_prefix(key, q)
                if shared == len(q) // WIDTH and shared < reused:
                    dirty = min(dirty, shared)  # q's slot may hold q's generated tokens next
            for bad, start in self._poisoned:
                if common_prefix(key, bad) >= reused:
                    dirty = min(dirty, start)
            if cached is None:
                return self._settle(ticket, key, n, reused, poisoned_from=min(clean, dirty))
            # the fresh evaluation's last micro-batch is one row exactly when this one's is
            same_tail = ((n - reused) % self.ubatch == 1) == (n % self.ubatch == 1)
            if clean >= reused and dirty >= reused and n - reused >= 2 and same_tail:
                return self._settle(ticket, key, n, reused, poisoned_from=None)
            # This reply's slot now holds the prompt, clean at most up to what it reused.
            return self._settle(ticket, key, n, reused, poisoned_from=min(reused, clean, dirty))

    def _clean_extent(self, key: bytes) -> int:
        """How many leading tokens of key some remembered clean prompt shares."""
        return max((common_prefix(key, q) for q in self._sources), default=0)

    def _earlier_candidates(self, ticket: int, key: bytes, reused: int) -> bool:
        return any(t < ticket and common_prefix(key, q) >= reused for t, q in self._in_flight.items())

    def _settle(self, ticket: int, key: bytes, n: int, reused: int, poisoned_from: int | None) -> bool:
        del self._in_flight[ticket]
        if poisoned_from is not None:
            self._poisoned.append((key, poisoned_from))
        elif (n - reused) % self.ubatch == 1:
            # its last token went through a one-row micro-batch: clean only before it
            self._sources.append(key[:-WIDTH])
            self._poisoned.append((key, n - 1))
        else:
            self._sources.append(key)
        self._changed.notify_all()
        return poisoned_from is None
