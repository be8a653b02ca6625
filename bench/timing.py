"""What the speed benches share: wall-clock timing of one call, and the markdown table they
print their results as (bench/llamacpp_parity.py, bench/ray_speed.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


def timed(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> tuple[T, float]:
    """fn(*args, **kwargs) and the wall seconds it took (a monotonic clock: immune to clock
    changes)."""
    started = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - started


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> str:
    """A markdown table; `align` has one letter a column ("l" or "r"; missing ones: "l")."""
    rules = ["---:" if align[i:i + 1] == "r" else "---" for i in range(len(header))]
    lines = [header, rules, *([str(cell) for cell in row] for row in rows)]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)
