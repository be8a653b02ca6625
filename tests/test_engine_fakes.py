"""Not tests: scripted backends shared by the engine tests. They pickle (module-level
functions), so the same recipe opens the same fake model here and in Ray actors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from clearft.backends.base import GenerateRequest
from clearft.engines import BackendSpec


def _preferred_letter(req: GenerateRequest) -> str:
    """The judge always prefers the candidate, wherever it stands; reflections say Correct,
    except on rows whose candidate ends in 0 (so some rows stay uncorrected)."""
    text = req.messages[-1]["content"]
    if "Proposed judgment" in text:
        return "B" if "corrected answer 0" in text else "A"
    return "A" if "Response (A): corrected answer" in text else "B"


def judge_responder(req: GenerateRequest, i: int) -> str:
    """Candidates: "corrected answer N"; judge verdicts and reflections: see above."""
    if req.assistant_prefix:  # a letter right after "answer: "
        return _preferred_letter(req)
    if "Response (A)" in req.messages[-1]["content"]:
        return f"explanation: one is right, answer: {_preferred_letter(req)}"
    return f"corrected answer {len(req.messages[-1]['content']) % 4}"


def judge_letters(req: GenerateRequest) -> dict[str, float]:
    best = _preferred_letter(req)
    return {c: (-0.05 if c == best else -4.0) for c in "ABC"}


def _echo_preferred(req: GenerateRequest) -> str:
    """For `clearft run` on fakes, where the candidate model echoes the prompt ("Tell me
    about N."): the judge prefers the echo; reflections doubt it for odd N."""
    text = req.messages[-1]["content"]
    if "Proposed judgment" in text:
        return "B" if re.search(r"Tell me about \d*[13579]\.", text) else "A"
    return "A" if "Response (A): Tell me about" in text else "B"


def echo_judge_responder(req: GenerateRequest, i: int) -> str:
    if req.assistant_prefix:
        return _echo_preferred(req)
    if "Response (A)" in req.messages[-1]["content"]:
        return f"explanation: one is better, answer: {_echo_preferred(req)}"
    return "a pseudo score needs no text"


def echo_judge_letters(req: GenerateRequest) -> dict[str, float]:
    best = _echo_preferred(req)
    return {c: (-0.05 if c == best else -4.0) for c in "ABC"}


def write_story_rows(path: Path, n: int) -> Path:
    """Rows whose targets are free text (not labels), so any candidate may replace them."""
    rows = [{"id": f"s{i}", "prompt": f"Tell me about {i}.", "response": f"{i} squared is {i * i}"}
            for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


FAKE = BackendSpec("fake", "off")
FAKE_JUDGE = BackendSpec("fake", "off", {"responder": judge_responder, "choice_logprobs": judge_letters})


def write_rows(path: Path, n: int) -> Path:
    rows = [{"id": f"r{i}", "prompt": f"What is {i} plus {i}?", "response": str(2 * i if i % 3 else i)}
            for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ---------------------------------------------------------------- cross-fit fold stubs


def knows_sentiment(req: Any) -> float:
    """A fold model that "knows" the task: the true label of a "good"/"bad" review scores high."""
    right = "positive" if "good" in req.messages[-1]["content"] else "negative"
    return -0.1 if req.continuation == right else -4.0


def train_fold_stub(rows: list[Any], out_dir: Path) -> Path:
    """A trainer that records which rows it trained on and in which process (no model)."""
    import os
    import socket

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "trained.json").write_text(json.dumps({"ids": [ex.id for ex in rows],
                                                      "worker": f"{socket.gethostname()}:{os.getpid()}"}))
    (out_dir / "DONE").write_text(f"{out_dir.name}\n")
    return out_dir


def open_fold_stub(model_dir: Path) -> Any:
    from clearft.backends.fake import FakeBackend

    return FakeBackend(scorer=knows_sentiment, model=model_dir.name)


def count_engines(monkeypatch: Any) -> tuple[list[Any], list[Any]]:
    """Makes every engine a command opens a local one, and records it when made and when
    closed: (made, closed), for tests that a command opens one engine and closes it once."""
    import clearft.engines as engines
    from clearft.engines import EngineConfig, LocalEngine

    made: list[LocalEngine] = []
    closed: list[LocalEngine] = []

    class Counted(LocalEngine):
        def close(self) -> None:
            closed.append(self)

    def make_engine(config: EngineConfig | None = None) -> LocalEngine:
        made.append(Counted(config))
        return made[-1]

    monkeypatch.setattr(engines, "make_engine", make_engine)
    return made, closed
