"""bench/timing.py, the helpers the speed benches share."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from timing import markdown_table, timed  # noqa: E402  (bench/timing.py)


def test_timed_returns_the_result_and_the_seconds() -> None:
    assert timed(divmod, 7, 2)[0] == (3, 1)
    _, seconds = timed(time.sleep, 0.02)
    assert seconds >= 0.02


def test_markdown_table() -> None:
    assert markdown_table(["name", "rows/s"], [["local", "1.50"], ["ray", 2]], align="lr") == (
        "| name | rows/s |\n| --- | ---: |\n| local | 1.50 |\n| ray | 2 |")
