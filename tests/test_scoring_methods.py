"""Scoring methods with the scripted fake backend: schema, batching, unknowns, failures."""

from __future__ import annotations

import math

import pytest

from clearft.backends.base import GenerateRequest
from clearft.backends.fake import FakeBackend
from clearft.data.example import Example
from clearft.errors import CapabilityError
from clearft.scoring import Usage, make_config, resolve_method, score_examples
from clearft.scoring.prompts import COT_TEMPLATE
from clearft.scoring.similarity import ExactSimilarity

EXACT = ExactSimilarity()


def _examples(n: int = 6) -> list[Example]:
    return [
        Example(f"row{i}", [{"role": "user", "content": f"What is {i} + {i}?"}], str(2 * i) if i % 3 else "wrong")
        for i in range(n)
    ]


def _is_sample(req: GenerateRequest) -> bool:
    return COT_TEMPLATE in req.messages[-1]["content"]


def _right_answer(req: GenerateRequest) -> str:
    q = req.messages[-1]["content"].rsplit("What is ", 1)[1]
    return str(2 * int(q.split(" +")[0]))


def honest_responder(req: GenerateRequest, i: int) -> str:
    """Samples answer the sum correctly; reflections (sampled) say A when the proposed
    answer is right, B otherwise."""
    if _is_sample(req):
        return f"explanation: adding. answer: {_right_answer(req)}"
    content = req.messages[-1]["content"]
    proposed = content.split("Proposed Answer: ", 1)[1].split(".", 1)[0]
    return "explanation: checked, answer: " + ("A" if proposed == _right_answer(req) else "B")


def honest_logprobs(req: GenerateRequest) -> dict[str, float]:
    content = req.messages[-1]["content"]
    proposed = content.split("Proposed Answer: ", 1)[1].split(".", 1)[0]
    good = proposed == _right_answer(req)
    return {" A": math.log(0.9 if good else 0.1), " B": math.log(0.1 if good else 0.9)}


def test_bsdetector_separates_right_from_wrong_targets_sampled_letters() -> None:
    backend = FakeBackend(responder=honest_responder, logprobs=False)
    config = make_config(method="bsdetector")
    results = score_examples(_examples(), backend, config, similarity=EXACT)
    for ex, r in zip(_examples(), results, strict=True):
        assert r.error is None and r.method == "bsdetector"
        good = ex.response != "wrong"
        assert r.consistency == pytest.approx(1.0 if good else 0.0)
        assert r.self_reflection == pytest.approx(1.0 if good else 0.0)
        assert r.confidence == pytest.approx(1.0 if good else 0.0)
        ev = r.evidence
        assert len(ev["samples"]) == 5 and ev["unknown"] == 0
        assert set(ev["samples"][0]) >= {"text", "answer", "similarity", "exact_match"}
        assert [x["round"] for x in ev["reflections"]] == [1, 2]
        assert ev["reflections"][0]["verdict"] == ("A" if good else "B")
        assert ev["reflections"][0]["explanation"] == "checked"
        assert ev["reflections"][0]["probs"] is None


def test_reflection_reads_letter_probabilities_when_offered() -> None:
    backend = FakeBackend(responder=lambda req, i: "A", choice_logprobs=honest_logprobs)
    config = make_config(method="self-reflection")
    results = score_examples(_examples(3), backend, config)
    reflection_calls = [c for c in backend.calls if isinstance(c, GenerateRequest)]
    assert all(c.top_logprobs > 0 and c.assistant_prefix == "answer:" and c.max_tokens == 1 for c in reflection_calls)
    assert results[0].self_reflection == pytest.approx(0.1)  # "wrong" target
    assert results[1].self_reflection == pytest.approx(0.9)
    assert results[1].evidence["reflections"][0]["probs"]["A"] == pytest.approx(0.9)
    assert results[1].consistency is None and results[1].evidence["samples"] == []


def test_all_rows_of_a_batch_go_in_one_generate_call() -> None:
    calls: list[int] = []

    class Counting(FakeBackend):
        def generate(self, requests):  # type: ignore[no-untyped-def]
            calls.append(len(requests))
            return super().generate(requests)

    backend = Counting(responder=honest_responder, logprobs=False)
    score_examples(_examples(6), backend, make_config(method="bsdetector"), similarity=EXACT)
    assert calls == [6 * 3]  # one sample request (n=5) + two reflection rounds per row


def test_scores_do_not_depend_on_batch_size() -> None:
    def responder(req: GenerateRequest, i: int) -> str:
        # Replies depend only on the request's seed: what a seeded sampler does.
        letter = "ABC"[req.seed % 3]
        return f"explanation: e, answer: {letter}" if not _is_sample(req) else f"answer: {req.seed % 7}"

    config = make_config(method="bsdetector")
    examples = _examples(7)
    whole = score_examples(examples, FakeBackend(responder=responder, logprobs=False), config, similarity=EXACT)
    pieces = []
    for size in (1, 2, 4):
        backend = FakeBackend(responder=responder, logprobs=False)
        got = []
        for i in range(0, len(examples), size):
            got += score_examples(examples[i:i + size], backend, config, similarity=EXACT)
        pieces.append([r.columns() for r in got])
    assert all(p == [r.columns() for r in whole] for p in pieces)


def test_unparseable_outputs_are_retried_then_unknown_not_guessed() -> None:
    backend = FakeBackend(responder=lambda req, i: "I think it is probably fine." if not _is_sample(req) else "answer: 2",
                          logprobs=False)
    config = make_config(method="bsdetector", max_retries=2)
    (r,) = score_examples(_examples(2)[1:], backend, config, similarity=EXACT)
    reflections = r.evidence["reflections"]
    assert [x["verdict"] for x in reflections] == ["unknown", "unknown"]
    assert all(x["attempts"] == 3 and x["raw"] for x in reflections)
    assert r.self_reflection is None
    assert r.evidence["unknown"] == 2
    assert r.confidence == r.consistency  # the unknown part does not pretend to be a verdict
    # 1 sample request + 2 reflections, then 2 re-asks of each reflection
    assert len(backend.calls) == 3 + 2 * 2


def test_a_row_with_no_parseable_output_at_all_gets_an_error_not_a_score() -> None:
    backend = FakeBackend(responder=lambda req, i: "", logprobs=False)
    (r,) = score_examples(_examples(1), backend, make_config(method="bsdetector", max_retries=1), similarity=EXACT)
    assert r.confidence is None and "no parseable model output" in (r.error or "")


def test_failing_row_gets_an_error_record_and_the_batch_goes_on() -> None:
    backend = FakeBackend(responder=honest_responder, logprobs=False,
                          fail_when=lambda req: "What is 2 +" in req.messages[-1]["content"])
    results = score_examples(_examples(4), backend, make_config(method="bsdetector"), similarity=EXACT)
    assert results[2].confidence is None and results[2].error == "scripted failure"
    assert all(r.error is None and r.confidence is not None for i, r in enumerate(results) if i != 2)


def test_a_batch_that_raises_is_scored_row_by_row() -> None:
    class Fragile(FakeBackend):
        def generate(self, requests):  # type: ignore[no-untyped-def]
            if any("What is 1 +" in r.messages[-1]["content"] for r in requests):
                raise RuntimeError("tokenizer exploded")
            return super().generate(requests)

    results = score_examples(_examples(3), Fragile(responder=honest_responder, logprobs=False),
                             make_config(method="bsdetector"), similarity=EXACT)
    assert results[1].error == "RuntimeError: tokenizer exploded"
    assert results[0].error is None and results[2].error is None


def test_perplexity_and_ifd() -> None:
    def scorer(req):  # type: ignore[no-untyped-def]
        return -1.0 if req.messages[-1]["content"] else -2.0  # the prompt helps: IFD < 1

    backend = FakeBackend(scorer=scorer)
    (p,) = score_examples(_examples(1), backend, make_config(method="perplexity"))
    assert p.confidence == pytest.approx(math.exp(-1.0 / 1))
    assert p.evidence["perplexity"] == pytest.approx(math.e)
    (i,) = score_examples(_examples(1), backend, make_config(method="ifd"))
    assert i.evidence["ifd"] == pytest.approx(math.exp(1.0) / math.exp(2.0))
    assert i.confidence == pytest.approx(1 / (1 + i.evidence["ifd"]))
    assert i.confidence > 0.5


def test_perplexity_needs_loglikelihood_before_any_call() -> None:
    backend = FakeBackend(logprobs=False)
    with pytest.raises(CapabilityError):
        score_examples(_examples(2), backend, make_config(method="perplexity"))
    assert backend.calls == []


def test_judge_rating_expected_value_from_probabilities() -> None:
    backend = FakeBackend(responder=lambda req, i: "5",
                          choice_logprobs=lambda req: {"5": math.log(0.5), "1": math.log(0.5)})
    (r,) = score_examples(_examples(1), backend, make_config(method="judge-rating"))
    assert r.evidence["rating"] == pytest.approx(3.0)
    assert r.confidence == pytest.approx(0.5)


def test_judge_rating_sampled_and_unknown() -> None:
    ok = FakeBackend(responder=lambda req, i: "rating: 4, explanation: fine", logprobs=False)
    (r,) = score_examples(_examples(1), ok, make_config(method="judge-rating"))
    assert r.confidence == pytest.approx(0.75)
    bad = FakeBackend(responder=lambda req, i: "Great answer!", logprobs=False)
    (u,) = score_examples(_examples(1), bad, make_config(method="judge-rating", max_retries=1))
    assert u.confidence is None and u.evidence["unknown"] == 1 and "no parseable rating" in (u.error or "")


def _rows(prompts: list[str], targets: list[str]) -> list[Example]:
    return [Example(str(i), [{"role": "user", "content": p}], t) for i, (p, t) in enumerate(zip(prompts, targets, strict=True))]


def test_auto_picks_embedding_classifier_for_labels_only() -> None:
    config = make_config()
    assert resolve_method(config, _rows(["q"] * 20, ["pos", "neg"] * 10)) == "embedding-classifier"
    free = [f"a long free-form answer number {i}" for i in range(20)]
    assert resolve_method(config, _rows(["q"] * 20, free)) == "bsdetector"
    assert resolve_method(config, _rows(["q"] * 2, ["pos", "neg"])) == "bsdetector"  # too few rows


def test_auto_on_free_text_is_the_backends_measured_default() -> None:
    """Free text: IFD on the llama.cpp backend (its measured frontier), BSDetector on a backend
    without log-likelihoods or one not measured; labels stay with the classifier everywhere."""
    config = make_config()
    free = _rows(["q"] * 20, [f"a long free-form answer number {i}" for i in range(20)])
    labels = _rows(["q"] * 20, ["pos", "neg"] * 10)

    class LlamaLike(FakeBackend):
        name = "llamacpp"

    assert resolve_method(config, free, LlamaLike()) == "ifd"
    assert resolve_method(config, free, LlamaLike(logprobs=False)) == "bsdetector"  # no log-likelihoods
    assert resolve_method(config, free, FakeBackend()) == "bsdetector"  # not measured: the paper's method
    assert resolve_method(config, labels, LlamaLike()) == "embedding-classifier"
    assert resolve_method(make_config(method="bsdetector"), free, LlamaLike()) == "bsdetector"
    (r,) = score_examples(free[:1], LlamaLike(), config)
    assert r.method == "ifd" and r.confidence is not None


def test_auto_reads_choice_letters_as_their_option_text() -> None:
    config = make_config()
    # FPB-like: the same options every time, so letters are classes.
    fixed = _rows(["Sentiment of x?\nA. negative\nB. neutral\nC. positive"] * 20, ["A", "C"] * 10)
    assert resolve_method(config, fixed) == "embedding-classifier"
    # ARC-like: every question has its own options, so a letter is no class.
    own = _rows([f"Question {i}?\nA. thing {i}\nB. other {i}" for i in range(20)], ["A", "B"] * 10)
    assert resolve_method(config, own) == "bsdetector"


def test_usage_counts_tokens() -> None:
    usage = Usage()
    score_examples(_examples(2), FakeBackend(responder=honest_responder, logprobs=False),
                   make_config(method="bsdetector"), usage, similarity=EXACT)
    assert usage.calls == 1 and usage.requests == 6
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0


def test_long_targets_are_compared_with_the_whole_reply_and_their_final_number() -> None:
    """A worked-solution target (GSM8K style) against samples that reason and end in a number:
    under compare=auto the sample's whole reply meets the target, and exact match reads the
    final numbers; compare=answer (the paper) keeps the parsed answer."""
    steps = "Tom has 3 apples and buys 4 more bags with 2 apples in each bag, so he buys 8 apples."
    right = f"{steps} In all he has 3 + 8 = 11 apples. #### 11"
    wrong = f"{steps} In all he has 3 + 8 = 12 apples. #### 12"
    rows = [Example(f"r{i}", [{"role": "user", "content": "How many apples does Tom have?"}], t)
            for i, t in enumerate((right, wrong))]
    reply = f"explanation: {steps} 3 + 8 = 11. answer: 11"
    backend = FakeBackend(responder=lambda req, i: reply if _is_sample(req) else "answer: A", logprobs=False)
    seen: list[tuple[str, str]] = []

    def similarity(pairs: list[tuple[str, str]]) -> list[float]:
        seen.extend(pairs)
        return [0.5] * len(pairs)

    auto = score_examples(rows, backend, make_config(method="consistency"), similarity=similarity)
    assert {a for a, _ in seen} == {reply}
    assert [s["exact_match"] for s in auto[0].evidence["samples"]] == [True] * 5
    assert [s["exact_match"] for s in auto[1].evidence["samples"]] == [False] * 5
    assert auto[0].confidence > auto[1].confidence
    assert auto[0].evidence["samples"][0]["compared"] == "reply"
    seen.clear()
    paper = score_examples(rows, backend, make_config(method="consistency", compare="answer"), similarity=similarity)
    assert {a for a, _ in seen} == {"11"}
    assert paper[0].confidence == paper[1].confidence  # "11" is neither whole solution
    short = [Example("s", [{"role": "user", "content": "2 + 2?"}], "4")]
    seen.clear()
    score_examples(short, FakeBackend(responder=lambda req, i: "explanation: sum. answer: 4"),
                   make_config(method="consistency"), similarity=similarity)
    assert {a for a, _ in seen} == {"4"}  # short targets: the parsed answer, as the paper does


def test_usage_counts_cached_prompt_tokens_and_the_summary_shows_them() -> None:
    from clearft.backends.base import Completion
    from clearft.scoring.result import ScoreSummary

    usage = Usage()
    usage.add_completions([Completion(["a"], prompt_tokens=50, completion_tokens=3, cached_prompt_tokens=32),
                           Completion(["b"], prompt_tokens=40, completion_tokens=2)])
    other = Usage()
    other.add_completions([Completion(["c"], prompt_tokens=10, completion_tokens=1, cached_prompt_tokens=10)])
    usage.merge(other)
    assert (usage.requests, usage.prompt_tokens, usage.cached_prompt_tokens) == (3, 100, 42)
    line = ScoreSummary(output="o.jsonl", method="bsdetector", rows=1, scored=1, usage=usage).lines()[1]
    assert "100 prompt (42 from the server's prompt cache) + 6 generated" in line
    assert "prompt cache" not in ScoreSummary(output="o", method="m", usage=Usage()).lines()[1]
