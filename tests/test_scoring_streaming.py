"""Asks streamed to a backend that takes requests in parallel (issue 15): each ask is its own
call, a re-ask goes out as soon as its answer fails to parse (no retry round waits for the
slowest answer of a batch), and the scores are those of the batched path."""

from __future__ import annotations

import threading

from clearft.backends.base import GenerateRequest
from clearft.backends.fake import FakeBackend
from clearft.data.example import Example
from clearft.scoring import Usage, make_config, score_examples
from clearft.scoring.ask import Ask, ask_all
from clearft.scoring.similarity import get_similarity

EXACT = get_similarity("exact")


def _rows(n: int) -> list[Example]:
    return [Example(f"r{i}", [{"role": "user", "content": f"Question {i}?"}], "A" if i % 3 else "B") for i in range(n)]


def flaky(req: GenerateRequest, i: int) -> str:
    """Seeded like a real sampler: some first answers choose nothing, their re-asks do."""
    return "no letter here" if (req.seed + i) % 4 == 0 else f"explanation: x, answer: {'AB'[(req.seed + i) % 2]}"


def test_streamed_scores_equal_the_batched_ones() -> None:
    config = make_config("medium", method="bsdetector", max_retries=2)
    batched, streamed = FakeBackend(responder=flaky, logprobs=False), FakeBackend(responder=flaky, logprobs=False, parallel=4)
    u1, u2 = Usage(), Usage()
    a = score_examples(_rows(9), batched, config, u1, similarity=EXACT)
    b = score_examples(_rows(9), streamed, config, u2, similarity=EXACT)
    assert [r.columns() for r in a] == [r.columns() for r in b]
    assert any(r["attempts"] > 1 for x in a for r in x.evidence["reflections"])  # re-asks happened
    # The same requests either way; streamed, one call per ask (or per re-ask), not per round.
    assert sorted(r.key() for r in batched.calls) == sorted(r.key() for r in streamed.calls)
    assert u1.requests == u2.requests and u1.prompt_tokens == u2.prompt_tokens
    assert u2.calls > u1.calls


def test_a_reask_does_not_wait_for_the_slowest_first_answer() -> None:
    """Ask 0's first answer is held back until ask 1's re-ask has reached the backend. Streamed,
    the re-ask goes out at once; batched, it would wait for ask 0 (the hold times out)."""
    reasked = threading.Event()
    held: list[bool] = []

    def reply(req: GenerateRequest, i: int) -> str:
        text = req.messages[-1]["content"]
        if text == "slow":
            held.append(reasked.wait(timeout=10))
            return "answer: A"
        if req.seed >= 1000:  # a re-ask
            reasked.set()
            return "answer: B"
        return "nothing"

    def parse(text: str, _lps: dict[str, float] | None) -> str | None:
        return text.removeprefix("answer: ") if text.startswith("answer:") else None

    def ask(content: str) -> Ask:
        return Ask(GenerateRequest([{"role": "user", "content": content}], seed=1), parse,
                   lambda s, attempt: Ask(GenerateRequest([{"role": "user", "content": content}], seed=1000 * attempt), parse))

    answers = ask_all(FakeBackend(responder=reply, parallel=2), [ask("slow"), ask("fast")], 1, Usage())
    assert held == [True]  # the slow answer was still out when the re-ask went
    assert [a[0].value for a in answers] == ["A", "B"] and answers[1][0].attempts == 2


def test_backends_say_whether_they_take_requests_in_parallel() -> None:
    assert FakeBackend().capabilities.parallel_requests == 0  # batches, as before
    assert FakeBackend(parallel=8).capabilities.parallel_requests == 8


def test_stand_ins_and_routers_take_batches() -> None:
    """The engines' stand-in (its requests are noted or looked up, in a reproducible order) and
    cross-fit's fold router (fold models batch their own requests) are offered whole batches,
    whatever the backend behind them streams."""
    from clearft.engines.base import BackendProfile, ProfiledBackend
    from clearft.scoring.crossfit.routing import FoldRoutingBackend

    server = FakeBackend(parallel=8)
    assert ProfiledBackend(BackendProfile.of(server)).capabilities.parallel_requests == 0
    router = FoldRoutingBackend(server, {}, lambda path: FakeBackend())
    assert router.capabilities.parallel_requests == 0 and router.capabilities.loglikelihood
