"""Kill and resume (issue 7): `clearft score` and `clearft run`, killed with SIGKILL at random
moments and run again, end with outputs identical to an uninterrupted run, redo no finished
work beyond the chunk of calls in flight, and never leave a torn file behind.

The command line is the real one (tests/fault_cli.py only makes the fake backend count and
slow down its requests). One more test does the same with the real default model.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clearft.backends.cache import DEFAULT_CHUNK
from clearft.data import open_dataset, write_records

HARNESS = Path(__file__).with_name("fault_cli.py")
TRAINER = (  # an external "trainer" that writes a stand-in model folder at once
    "import json, pathlib, sys\n"
    "out = pathlib.Path(sys.argv[2]); out.mkdir(parents=True, exist_ok=True)\n"
    "(out / 'config.json').write_text(json.dumps({'trained_on': pathlib.Path(sys.argv[1]).name}))\n"
    "(out / 'model.safetensors').write_bytes(b'weights')\n"
)
# Files whose content records when or how long, not what: left out of the comparison.
VOLATILE = ("timings.json", ".meta.json", "calls.sqlite")


def real_slice(shared_data: Path, tmp_path: Path, rows: int) -> Path:
    """The first `rows` records of FPB at 30% noise, as the CSV they came in."""
    source = shared_data / "robustft" / "fpb" / "noisy" / "noisy30.csv"
    records = []
    for ex in open_dataset(source):
        records.append(ex.record)
        if len(records) == rows:
            break
    path = tmp_path / "fpb30.csv"
    write_records(path, records)
    return path


def cli(args: list[str], cwd: Path, call_log: Path, delay: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CLEARFT_FAULT_CALL_LOG": str(call_log), "CLEARFT_FAULT_DELAY": str(delay)}
    # A session of its own, so the kill reaches the external trainer too.
    return subprocess.Popen([sys.executable, str(HARNESS), *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err.decode("utf-8", "replace")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every output file's bytes, by path (volatile and temporary files left out; the
    folder's own path, which files such as a model's DONE marker mention, made neutral)."""
    files = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and not p.name.startswith(".") and not any(v in p.name for v in VOLATILE):
            data = p.read_bytes().replace(str(folder).encode(), b"<RUN_DIR>")
            if p.name in ("state.json", "summary.json"):
                data = json.dumps(without_accounting(json.loads(data)), sort_keys=True).encode()
            files[rel] = data
    return files


# What a stage's summary says about the process that ran it, not about its output: a
# resumed stage reuses rows and spends fewer tokens than an uninterrupted one.
ACCOUNTING = ("reused", "usage", "seconds")


def without_accounting(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_accounting(v) for k, v in value.items() if k not in ACCOUNTING}
    if isinstance(value, list):
        return [without_accounting(v) for v in value]
    return value


def assert_no_torn_outputs(folder: Path, reference: dict[str, bytes]) -> None:
    """What a kill left under a final name is whole: atomic writes leave the old file or the
    new one, never half of one. Outputs are deterministic, so "whole" is checked exactly: a
    finished output equals the reference run's. Run state (state.json) must parse; the
    journal, append-only, is the exception by design (its reader skips a torn last line)."""
    for rel, data in snapshot(folder).items():
        if rel.endswith(".partial.jsonl"):
            continue
        if rel.endswith(".json"):
            json.loads(data)
        if rel in reference and not rel.endswith(("state.json", "summary.json")):
            assert data == reference[rel], f"{rel} differs from the reference after a kill"


def redone(calls: Counter[str], baseline: Counter[str]) -> int:
    """Requests computed more often than in an uninterrupted run."""
    return sum(max(0, n - baseline[key]) for key, n in calls.items())


def read_calls(path: Path) -> Counter[str]:
    return Counter(path.read_text().splitlines()) if path.exists() else Counter()


def kill_and_resume(
    args_for: Callable[[Path], list[str]], out_of: Callable[[Path], Path], workdir: Path,
    kills: int, delay: float, seed: int,
) -> dict[str, int]:
    """Run the command uninterrupted once (the reference), then in fresh folders: start it,
    SIGKILL it after a random time, start it again, ... until it finishes; repeat until
    `kills` kills have landed. Every finished folder must equal the reference."""
    rng = random.Random(seed)
    ref_dir = workdir / "reference"
    ref_dir.mkdir()
    ref_log = workdir / "reference.calls"
    started = time.monotonic()
    code, err = finish(cli(args_for(ref_dir), workdir, ref_log, delay))
    full_seconds = time.monotonic() - started
    assert code == 0, err
    reference = snapshot(out_of(ref_dir))
    baseline = read_calls(ref_log)
    assert baseline, "the reference run made no model calls"

    stats = {"kills": 0, "runs": 0, "chains": 0, "redone": 0, "allowed": 0,
             "calls_uninterrupted": sum(baseline.values())}
    while stats["kills"] < kills:
        stats["chains"] += 1
        run_dir = workdir / f"chain{stats['chains']}"
        run_dir.mkdir()
        log = workdir / f"chain{stats['chains']}.calls"
        chain_kills = 0
        while True:
            proc = cli(args_for(run_dir), workdir, log, delay)
            stats["runs"] += 1
            try:
                proc.wait(timeout=rng.uniform(0.2, 1.1) * full_seconds)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                chain_kills += 1
                assert_no_torn_outputs(out_of(run_dir), reference)
                continue
            code, err = finish(proc)
            assert code == 0, err
            assert "Traceback" not in err
            break
        assert snapshot(out_of(run_dir)) == reference, f"chain {stats['chains']} differs"
        extra = redone(read_calls(log), baseline)
        # What a kill may cost: the chunk of calls that was in flight, not yet cached.
        assert extra <= chain_kills * DEFAULT_CHUNK, (extra, chain_kills)
        stats["kills"] += chain_kills
        stats["redone"] += extra
        stats["allowed"] += chain_kills * DEFAULT_CHUNK
    return stats


def write_stats(name: str, stats: dict[str, int]) -> None:
    """For bench/results/faults.md: the numbers of this run, when asked for."""
    target = os.environ.get("CLEARFT_FAULT_STATS")
    if target:
        with open(target, "a", encoding="utf-8") as f:
            f.write(json.dumps({"test": name, **stats}) + "\n")


def test_score_killed_at_random_moments_resumes_to_the_same_output(shared_data, tmp_path):
    data = real_slice(shared_data, tmp_path, 120)

    def args_for(run_dir: Path) -> list[str]:
        return ["score", str(data), "-o", str(run_dir / "scored.jsonl"), "--backend", "fake",
                "--method", "bsdetector", "--preset", "low", "--similarity", "token-f1",
                "--batch-size", "8", "--cache", str(run_dir / "calls.sqlite"), "--no-progress"]

    stats = kill_and_resume(args_for, lambda d: d, tmp_path, kills=10, delay=0.01, seed=7)
    write_stats("score", stats)
    assert stats["kills"] >= 10


def test_run_killed_at_random_moments_across_stages_resumes_to_the_same_outputs(shared_data, tmp_path):
    data = real_slice(shared_data, tmp_path, 80)
    trainer = tmp_path / "trainer.py"
    trainer.write_text(TRAINER)

    def args_for(run_dir: Path) -> list[str]:
        return ["run", str(data), "-o", str(run_dir / "run"), "--backend", "fake",
                "--candidate-backend", "fake", "--method", "self-reflection",
                "--finetune-command", f"{sys.executable} {trainer} {{data}} {{output}}",
                # The frozen label model: this test is about the stages; the encoder's own
                # folds resume from their cache (tests/test_label_encoder.py).
                "--label-model", "logreg", "--no-progress"]

    stats = kill_and_resume(args_for, lambda d: d / "run", tmp_path, kills=20, delay=0.005, seed=11)
    write_stats("run", stats)
    assert stats["kills"] >= 20


@pytest.mark.slow
def test_score_with_the_real_model_killed_once_resumes_to_the_same_output(shared_data, tmp_path):
    """The embedded model through llama.cpp: seeded sampling makes the resumed rows equal."""
    data = real_slice(shared_data, tmp_path, 4)

    def args_for(run_dir: Path) -> list[str]:
        # The cheapest real scoring (one self-reflection pass a row), one row a batch.
        return ["score", str(data), "-o", str(run_dir / "scored.jsonl"), "--method", "bsdetector",
                "--preset", "base", "--batch-size", "1",
                "--cache", str(run_dir / "calls.sqlite"), "--no-progress"]

    ref = tmp_path / "ref"
    ref.mkdir()
    started = time.monotonic()
    code, err = finish(cli(args_for(ref), tmp_path, tmp_path / "ref.calls", 0))
    seconds = time.monotonic() - started
    assert code == 0, err
    run_dir = tmp_path / "killed"
    run_dir.mkdir()
    proc = cli(args_for(run_dir), tmp_path, tmp_path / "killed.calls", 0)
    # Past model loading, into the scoring: the journal has its first batch.
    journal = run_dir / "scored.jsonl.partial.jsonl"
    deadline = time.monotonic() + seconds * 2
    while time.monotonic() < deadline and not (journal.exists() and journal.stat().st_size):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "scored.jsonl").exists(), "the run finished before the kill"
    assert_no_torn_outputs(run_dir, snapshot(ref))
    code, err = finish(cli(args_for(run_dir), tmp_path, tmp_path / "killed.calls", 0))
    assert code == 0, err
    assert "resuming: " in err
    assert snapshot(run_dir) == snapshot(ref)
