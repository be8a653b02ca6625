"""The call cache, with the scripted fake backend: hits, per-seed reuse, errors, reopening."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from clearft.backends.base import GenerateRequest, LoglikelihoodRequest
from clearft.backends.cache import CachedBackend, call_key, open_backend
from clearft.backends.fake import FakeBackend

CHAT = [{"role": "user", "content": "Is the sky blue?"}]


def seeded(req: GenerateRequest, i: int) -> str:
    """A reply that depends on the sample's seed, like a real sampled backend."""
    return f"{req.messages[-1]['content']}#{req.seed + i}"


def make(tmp_path: Path, **fake_args: object) -> tuple[FakeBackend, CachedBackend]:
    inner = FakeBackend(responder=seeded, **fake_args)  # type: ignore[arg-type]
    return inner, CachedBackend(inner, tmp_path / "calls.sqlite")


def test_second_call_is_a_hit_and_returns_the_same(tmp_path: Path) -> None:
    inner, cached = make(tmp_path)
    req = GenerateRequest(CHAT, n=2, temperature=1.0, seed=10)
    first = cached.generate([req])
    second = cached.generate([req])
    assert first[0].texts == ["Is the sky blue?#10", "Is the sky blue?#11"]
    assert second[0].texts == first[0].texts
    assert len(inner.calls) == 1
    assert cached.stats()["hits"] == 2 and cached.stats()["misses"] == 2


def test_more_samples_reuse_the_cached_ones(tmp_path: Path) -> None:
    inner, cached = make(tmp_path)
    cached.generate([GenerateRequest(CHAT, n=3, temperature=1.0, seed=0)])
    inner.calls.clear()
    out = cached.generate([GenerateRequest(CHAT, n=5, temperature=1.0, seed=0)])
    assert out[0].texts == [f"Is the sky blue?#{s}" for s in range(5)]
    # Only samples 3 and 4 were computed, each as its own one-sample request.
    assert [(c.n, c.seed) for c in inner.calls] == [(1, 3), (1, 4)]  # type: ignore[union-attr]
    assert cached.stats()["hits"] == 3


def test_a_different_setting_is_a_different_call(tmp_path: Path) -> None:
    inner, cached = make(tmp_path)
    cached.generate([GenerateRequest(CHAT, temperature=1.0, max_tokens=10)])
    cached.generate([GenerateRequest(CHAT, temperature=1.0, max_tokens=11)])
    cached.generate([GenerateRequest(CHAT, temperature=0.5, max_tokens=10)])
    assert len(inner.calls) == 3
    assert cached.stats()["hits"] == 0


def test_errors_are_not_cached(tmp_path: Path) -> None:
    failing = {"on": True}
    inner, cached = make(tmp_path, fail_when=lambda req: failing["on"])
    req = GenerateRequest(CHAT)
    assert cached.generate([req])[0].error == "scripted failure"
    failing["on"] = False
    again = cached.generate([req])
    assert again[0].ok and again[0].texts == ["Is the sky blue?#0"]
    assert len(inner.calls) == 2
    assert cached.stats()["errors"] == 1


def test_one_failing_request_leaves_the_others(tmp_path: Path) -> None:
    inner, cached = make(tmp_path, fail_when=lambda req: "bad" in req.messages[-1]["content"])
    reqs = [GenerateRequest([{"role": "user", "content": t}]) for t in ["a", "bad", "c"]]
    out = cached.generate(reqs)
    assert [c.ok for c in out] == [True, False, True]
    assert out[2].texts == ["c#0"]


def test_survives_reopening(tmp_path: Path) -> None:
    req = GenerateRequest(CHAT, n=2, temperature=1.0, top_logprobs=2, seed=3)
    inner, cached = make(tmp_path, choice_logprobs=lambda r: {"A": -0.1, "B": -2.5})
    first = cached.generate([req])[0]
    cached.close()
    inner2, reopened = make(tmp_path)
    again = reopened.generate([req])[0]
    assert inner2.calls == []
    assert again.texts == first.texts
    assert again.first_token_logprobs == [{"A": -0.1, "B": -2.5}] * 2
    assert (again.prompt_tokens, again.completion_tokens) == (first.prompt_tokens, first.completion_tokens)


def test_results_are_written_per_chunk_so_a_killed_run_resumes(tmp_path: Path) -> None:
    calls = {"n": 0}

    def dies_on_third_chunk(req: GenerateRequest, i: int) -> str:
        calls["n"] += 1
        if calls["n"] > 4:
            raise KeyboardInterrupt  # the user pressed Ctrl-C mid-run
        return seeded(req, i)

    inner = FakeBackend(responder=dies_on_third_chunk)
    cached = CachedBackend(inner, tmp_path / "calls.sqlite", chunk_size=2)
    reqs = [GenerateRequest([{"role": "user", "content": str(k)}]) for k in range(6)]
    with pytest.raises(KeyboardInterrupt):
        cached.generate(reqs)
    resumed = CachedBackend(FakeBackend(responder=seeded), tmp_path / "calls.sqlite", chunk_size=2)
    out = resumed.generate(reqs)
    assert [c.texts[0] for c in out] == [f"{k}#0" for k in range(6)]
    assert resumed.stats()["hits"] == 4 and resumed.stats()["misses"] == 2


def test_loglikelihood_is_cached(tmp_path: Path) -> None:
    inner, cached = make(tmp_path, scorer=lambda r: -1.5)
    reqs = [LoglikelihoodRequest(CHAT, "yes"), LoglikelihoodRequest(CHAT, "no")]
    first = cached.loglikelihood(reqs)
    second = cached.loglikelihood(list(reversed(reqs)))
    assert [r.logprob for r in first] == [-1.5, -1.5]
    assert second[0].n_tokens == first[1].n_tokens
    assert len(inner.calls) == 2
    assert cached.stats()["hits"] == 2


def test_token_usage_counts_only_what_was_spent(tmp_path: Path) -> None:
    _, cached = make(tmp_path)
    req = GenerateRequest(CHAT, n=2, temperature=1.0)
    comp = cached.generate([req])[0]
    cached.generate([req])
    s = cached.stats()
    assert s["completion_tokens"] == comp.completion_tokens
    assert s["saved_completion_tokens"] == comp.completion_tokens
    assert s["prompt_tokens"] == comp.prompt_tokens


def test_safe_with_threads(tmp_path: Path) -> None:
    _, cached = make(tmp_path)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for j in range(20):
                req = GenerateRequest([{"role": "user", "content": f"{k}-{j % 5}"}], n=2, temperature=1.0)
                assert cached.generate([req])[0].texts == [f"{k}-{j % 5}#0", f"{k}-{j % 5}#1"]
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    s = cached.stats()
    assert s["hits"] + s["misses"] == 4 * 20 * 2
    assert s["misses"] >= 4 * 5 * 2


def test_key_depends_on_every_part() -> None:
    base = call_key("llamacpp", "m", "generate", "{}", 0)
    assert len({
        base,
        call_key("openai", "m", "generate", "{}", 0),
        call_key("llamacpp", "m2", "generate", "{}", 0),
        call_key("llamacpp", "m", "loglikelihood", "{}", 0),
        call_key("llamacpp", "m", "generate", '{"a": 1}', 0),
        call_key("llamacpp", "m", "generate", "{}", 1),
    }) == 6


def test_open_backend_cache_choices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert isinstance(open_backend("fake"), FakeBackend)  # scripted replies: no cache by default
    assert isinstance(open_backend("fake", cache="off"), FakeBackend)
    cached = open_backend("fake", cache=tmp_path / "c.sqlite")
    assert isinstance(cached, CachedBackend)
    assert cached.name == "fake" and cached.describe()["cache"] == str(tmp_path / "c.sqlite")
    assert (tmp_path / "c.sqlite").is_file()


# ---------------------------------------------------------------- model identity (cache keys)


def test_model_identity_sees_a_change_in_the_middle_of_the_weights(tmp_path: Path) -> None:
    """Two fine-tunes of one base: same size, same header and end tensors, different middle.
    They must not share an identity, or the call cache would answer for the wrong model."""
    import random

    from clearft.backends.transformers_backend import _folder_identity
    from clearft.models import file_identity

    rng = random.Random(0)
    base = bytearray(rng.randbytes(12 << 20))  # 12 MiB
    tuned = bytearray(base)
    for start in range(3 << 20, 9 << 20, 1 << 18):  # a LoRA merge touches the middle tensors
        tuned[start:start + 4096] = rng.randbytes(4096)
    folders = []
    for name, blob in (("a", base), ("b", tuned), ("c", base)):
        folder = tmp_path / name / "model"  # same folder name, as RUN_DIR/model_filtered is
        folder.mkdir(parents=True)
        (folder / "config.json").write_text('{"model_type": "llama"}')
        (folder / "model.safetensors").write_bytes(bytes(blob))
        folders.append(folder)
    ids = [file_identity(f / "model.safetensors") for f in folders]
    assert ids[0] != ids[1] and ids[0] == ids[2]
    assert _folder_identity(folders[0]) != _folder_identity(folders[1])
    assert _folder_identity(folders[0]) == _folder_identity(folders[2])
    small = tmp_path / "small.bin"  # smaller than the two ends: hashed whole
    small.write_bytes(b"x" * 1000)
    assert file_identity(small) == file_identity(small)
