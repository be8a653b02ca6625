"""bench/noise.py (seeded noise injection) and the bundled banking77 slice it made."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from collections import Counter
from pathlib import Path

import pytest

from clearft.data import open_dataset

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "data"


def load_noise():  # bench/ is scripts, not a package
    spec = importlib.util.spec_from_file_location("clearft_bench_noise", ROOT / "bench" / "noise.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


noise = load_noise()


def test_swap_labels_changes_exactly_the_rate_and_never_to_itself() -> None:
    labels = [f"l{i % 7}" for i in range(100)]
    noisy, changed = noise.swap_labels(labels, sorted(set(labels)), 0.2, random.Random(0))
    assert len(changed) == 20
    assert [i for i in range(100) if noisy[i] != labels[i]] == changed
    again, changed_again = noise.swap_labels(labels, sorted(set(labels)), 0.2, random.Random(0))
    assert (again, changed_again) == (noisy, changed)  # seeded
    other, _ = noise.swap_labels(labels, sorted(set(labels)), 0.2, random.Random(1))
    assert other != noisy


def test_swap_between_rows_is_a_derangement_of_the_chosen() -> None:
    values = [f"solution {i}" for i in range(50)]
    noisy, changed = noise.swap_between_rows(values, 0.2, random.Random(3))
    assert len(changed) == 10
    assert [i for i in range(50) if noisy[i] != values[i]] == changed
    assert Counter(noisy) == Counter(values)  # the same solutions, moved between questions
    with pytest.raises(ValueError):
        noise.swap_between_rows(values, 1.5, random.Random(0))


def test_bundled_slice_matches_its_changed_list() -> None:
    ds = open_dataset(EXAMPLES / "banking77_noisy.jsonl")
    assert (ds.format.name, ds.id_col) == ("prompt-response", "id")
    noisy = {ex.id: ex for ex in ds}
    clean = {ex.id: ex.response for ex in open_dataset(EXAMPLES / "banking77_noisy.clean.jsonl")}
    changed = json.loads((EXAMPLES / "banking77_noisy.changed.json").read_text())
    assert len(noisy) == 400 and len(changed) == 80
    assert sorted(i for i, ex in noisy.items() if ex.response != clean[i]) == sorted(changed)
    intents = set(clean.values())
    assert len(intents) == 8 and {ex.response for ex in noisy.values()} == intents  # swaps stay inside the 8
    first = next(iter(noisy.values()))
    assert first.prompt_text.startswith("Classify the intent of this banking customer query as one of: ")
    assert all(i in first.prompt_text for i in intents) and first.prompt_text.endswith("\nIntent:")
    test = list(open_dataset(EXAMPLES / "banking77_test.jsonl"))
    assert len(test) == 120 and {ex.response for ex in test} == intents
    assert not {ex.prompt_text for ex in test} & {ex.prompt_text for ex in noisy.values()}
    assert "CC BY 4.0" in (EXAMPLES / "LICENSE-banking77.txt").read_text()


def test_bundled_slice_is_what_the_script_makes(shared_data: Path, tmp_path: Path) -> None:
    assert noise.main(["banking77", "--intents", "8", "--n", "400", "--test", "120", "--rate", "0.2",
                       "--seed", "0", "-o", str(tmp_path)]) == 0
    for name in ["banking77_noisy.jsonl", "banking77_noisy.changed.json", "banking77_noisy.clean.jsonl",
                 "banking77_test.jsonl"]:
        assert (tmp_path / name).read_bytes() == (EXAMPLES / name).read_bytes(), name


def test_gsm8k_noise_swaps_solutions(shared_data: Path, tmp_path: Path) -> None:
    paths = noise.make_noisy("gsm8k", tmp_path, rate=0.2, seed=0, n=100)
    noisy = {ex.id: ex for ex in open_dataset(paths["noisy"])}
    clean = {ex.id: ex for ex in open_dataset(paths["clean"])}
    changed = json.loads(paths["changed"].read_text())
    assert len(changed) == 20
    assert all(noisy[i].response != clean[i].response for i in changed)
    assert all(noisy[i].response == clean[i].response for i in noisy if i not in changed)
    assert {noisy[i].response for i in changed} == {clean[i].response for i in changed}


def test_near_miss_changes_the_final_number_and_the_step_before_it() -> None:
    import random

    solution = "He buys 3 + 4 = <<3+4=7>>7 apples.\nThen 7 * 2 = <<7*2=14>>14 apples.\n#### 14"
    wrong = noise.near_miss(solution, random.Random(0))
    final = wrong.rsplit("####", 1)[1].strip()
    assert final != "14" and wrong.splitlines()[0] == solution.splitlines()[0]
    assert f"={final}>>{final}" in wrong.splitlines()[1]
    assert noise.near_miss("no final answer here", random.Random(0)) == "no final answer here"


def test_gsm8k_near_noise_keeps_questions_and_changes_the_rate(shared_data: Path, tmp_path: Path) -> None:
    paths = noise.make_noisy("gsm8k-near", tmp_path, rate=0.2, seed=0, n=100)
    noisy = {ex.id: ex for ex in open_dataset(paths["noisy"])}
    clean = {ex.id: ex for ex in open_dataset(paths["clean"])}
    changed = json.loads(paths["changed"].read_text())
    assert 18 <= len(changed) <= 20
    for i in noisy:
        same = noisy[i].response == clean[i].response
        assert same == (i not in changed)
        assert noisy[i].prompt_text == clean[i].prompt_text


def test_short_prompt_leaves_the_intents_out(shared_data: Path, tmp_path: Path) -> None:
    short = noise.make_noisy("banking77", tmp_path / "s", n=40, intents=8, test=10, short_prompt=True)
    listed = noise.make_noisy("banking77", tmp_path / "l", n=40, intents=8, test=10)
    rows = {k: [json.loads(line) for line in p.read_text().splitlines()] for k, p in short.items() if k != "changed"}
    same = {k: [json.loads(line) for line in p.read_text().splitlines()] for k, p in listed.items() if k != "changed"}
    for k in rows:  # the same rows, targets and swaps; only the prompt is shorter
        assert [(r["id"], r["response"]) for r in rows[k]] == [(r["id"], r["response"]) for r in same[k]]
        assert all(r["prompt"].startswith("Classify the intent of this banking customer query. Query: ")
                   and len(r["prompt"]) < len(s["prompt"]) for r, s in zip(rows[k], same[k], strict=True))
    with pytest.raises(ValueError):
        noise.make_noisy("gsm8k", tmp_path / "g", n=10, short_prompt=True)



def test_balanced_slice_has_as_many_rows_of_each_intent(shared_data: Path, tmp_path: Path) -> None:
    """banking77's intents have 35-187 training rows, so a plain sample of 8 intents is skewed;
    --balanced takes n // intents rows of each (the same swaps and test rows otherwise)."""
    args = ["banking77", "--intents", "8", "--n", "80", "--rate", "0.3", "--seed", "0", "--short-prompt"]
    assert noise.main([*args, "--balanced", "-o", str(tmp_path / "b")]) == 0
    assert noise.main([*args, "-o", str(tmp_path / "p")]) == 0
    balanced = Counter(ex.response for ex in open_dataset(tmp_path / "b" / "banking77_noisy.clean.jsonl"))
    plain = Counter(ex.response for ex in open_dataset(tmp_path / "p" / "banking77_noisy.clean.jsonl"))
    assert sorted(balanced.values()) == [10] * 8
    assert sorted(plain.values()) != [10] * 8 and sum(plain.values()) == 80
    assert len(json.loads((tmp_path / "b" / "banking77_noisy.changed.json").read_text())) == 24
