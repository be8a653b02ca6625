"""Server kinds of the OpenAI-compatible backend (issue 15): the body each kind gets, by plain
equality; how probe replies are judged; then two stand-in servers on loopback, one that
behaves like vLLM (a trailing assistant message is continued only with
continue_final_message, n and logprobs honoured) and one like OpenAI's hosted API (no
prefill at all), each scored end to end by self-reflection: the letter read must be the
model's verdict, not the first token of a new turn."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from clearft.backends.base import GenerateRequest
from clearft.backends.openai_backend import (
    OpenAIBackend,
    TokenUsage,
    build_payload,
    parse_response,
    parse_usage,
)
from clearft.backends.openai_probe import (
    CONTINUE_FINAL,
    NO_PREFILL,
    PLAIN,
    ProbeFailed,
    Prober,
    continues,
    has_logprobs,
    honours_n,
    kind_for,
    prefill_probe,
)
from clearft.backends.usage import Usage
from clearft.data.example import Example
from clearft.errors import ClearftError
from clearft.scoring import make_config
from clearft.scoring.engine import score_examples

CHAT = [{"role": "user", "content": "Is 2+2=4?"}]
ASK = 'Start your reply directly with what comes after "answer:" (the letter or number itself), without writing "answer:".'


# ---------------------------------------------------------------------------------------
# Pure parts


def reflection_request() -> GenerateRequest:
    return GenerateRequest(CHAT, max_tokens=1, seed=3, top_logprobs=10, assistant_prefix="answer:")


def test_llamacpp_gets_the_prefix_as_a_trailing_assistant_message() -> None:
    assert build_payload(reflection_request(), "m", kind="llamacpp") == {
        "model": "m",
        "messages": [{"role": "user", "content": "Is 2+2=4?"}, {"role": "assistant", "content": "answer:"}],
        "temperature": 0.0, "max_tokens": 1, "n": 1, "seed": 3, "logprobs": True, "top_logprobs": 10,
    }


def test_vllm_is_told_to_continue_the_final_message() -> None:
    assert build_payload(reflection_request(), "m", kind="vllm") == {
        "model": "m",
        "messages": [{"role": "user", "content": "Is 2+2=4?"}, {"role": "assistant", "content": "answer:"}],
        "temperature": 0.0, "max_tokens": 1, "n": 1, "seed": 3,
        "continue_final_message": True, "add_generation_prompt": False,
        "logprobs": True, "top_logprobs": 10,
    }


def test_a_server_without_prefill_gets_the_prefix_as_an_instruction() -> None:
    assert build_payload(reflection_request(), "m", kind="openai") == {
        "model": "m",
        "messages": [{"role": "user", "content": f"Is 2+2=4?\n\n{ASK}"}],
        "temperature": 0.0, "max_tokens": 8, "n": 1, "seed": 3, "logprobs": True, "top_logprobs": 10,
    }


def test_without_a_prefix_every_kind_sends_the_same_body_and_logprobs_can_be_left_out() -> None:
    req = GenerateRequest(CHAT, n=3, temperature=1.0, seed=5, top_logprobs=2)
    bodies = [build_payload(req, "m", sample=1, kind=k) for k in ("llamacpp", "vllm", "openai")]
    assert bodies[0] == bodies[1] == bodies[2]
    assert build_payload(req, "m", sample=1, logprobs=False) == {
        "model": "m", "messages": CHAT, "temperature": 1.0, "max_tokens": 256, "n": 1, "seed": 6}
    with pytest.raises(ValueError):
        build_payload(req, "m", kind="auto")


def test_an_echoed_prefix_is_cut_and_the_letter_read_from_the_token_after_it() -> None:
    tokens = [("answer", []), (":", []), (" B", [(" B", -0.1), (" A", -2.3)]), (",", [])]
    data = {"choices": [{"index": 0, "message": {"content": "Answer: B,"}, "logprobs": {"content": [
        {"token": t, "logprob": -0.1, "top_logprobs": [{"token": a, "logprob": lp} for a, lp in top]}
        for t, top in [("Answer", []), *tokens[1:]]]}}]}
    comp = parse_response(data, want_top=True, assistant_prefix="answer:")
    assert comp.texts == [" B,"] and comp.first_token_logprobs == [{" B": -0.1, " A": -2.3}]
    # The server echoed the prefix (llama.cpp): the tokens cover only what was generated.
    echoed = {"choices": [{"message": {"content": "answer: B,"}, "logprobs": {"content": [
        {"token": " B", "logprob": -0.1, "top_logprobs": [{"token": " B", "logprob": -0.1}]},
        {"token": ",", "logprob": -0.3, "top_logprobs": []}]}}]}
    assert parse_response(echoed, want_top=True, assistant_prefix="answer:").first_token_logprobs == [{" B": -0.1}]
    # No echo: the first token, as before.
    data["choices"][0]["message"]["content"] = "B, explanation"
    data["choices"][0]["logprobs"]["content"][0]["top_logprobs"] = [{"token": "B", "logprob": -0.2}]
    assert parse_response(data, want_top=True, assistant_prefix="answer:").first_token_logprobs == [{"B": -0.2}]


def test_usage_counts_cached_prompt_tokens_apart() -> None:
    openai = {"usage": {"prompt_tokens": 1200, "completion_tokens": 5,
                        "prompt_tokens_details": {"cached_tokens": 1024}}}
    assert parse_usage(openai) == TokenUsage(1200, 1024, 5)
    assert parse_usage(openai).evaluated_prompt_tokens == 176
    llamacpp = {"usage": {"prompt_tokens": 40, "completion_tokens": 2}, "timings": {"cache_n": 31, "prompt_n": 9}}
    assert parse_usage(llamacpp) == TokenUsage(40, 31, 2)
    assert parse_usage({"usage": {"prompt_tokens": 40}, "tokens_cached": 12}) == TokenUsage(40, 12, 0)
    assert parse_usage({"usage": {"prompt_tokens": 40, "prompt_tokens_details": None}}) == TokenUsage(40, 0, 0)
    assert parse_usage({}) == TokenUsage(0, 0, 0)
    assert parse_usage({"usage": ["odd"], "timings": {"cache_n": "x"}}) == TokenUsage(0, 0, 0)


def reply(*texts: str) -> dict[str, Any]:
    return {"choices": [{"index": i, "message": {"content": t}} for i, t in enumerate(texts)]}


def test_probe_replies_are_judged() -> None:
    assert continues(reply("is.")) and continues(reply(" is the capital."))
    assert continues(reply("The capital of France is Paris."))  # the prefix echoed, then "is."
    assert not continues(reply("The capital of"))  # a new turn, cut at 4 tokens
    assert not continues(reply("Is there anything else?")) and not continues(reply("Paris"))
    assert not continues({"error": "x"})
    assert honours_n(reply("a", "b")) and not honours_n(reply("a"))
    top = {"content": [{"token": "yes", "logprob": -0.1, "top_logprobs": [{"token": "yes", "logprob": -0.1}]}]}
    assert has_logprobs({"choices": [{"message": {"content": "yes"}, "logprobs": top}]})
    assert not has_logprobs(reply("yes")) and not has_logprobs({"choices": [{"logprobs": {"content": []}}]})
    assert prefill_probe("m", CONTINUE_FINAL)["continue_final_message"] is True
    assert "continue_final_message" not in prefill_probe("m", PLAIN)


def test_the_prober_asks_once_and_records_no_unanswered_probe() -> None:
    sent: list[dict[str, Any]] = []
    answers: list[tuple[dict[str, Any] | None, int | None, str]] = [
        (None, None, "ConnectError"),  # the server is down: nothing recorded
        (reply("The capital of"), None, ""),  # plain: a new turn
        (None, 400, "HTTP 400: Unrecognized request argument supplied: continue_final_message"),
    ]

    def post(body: dict[str, Any]) -> tuple[dict[str, Any] | None, int | None, str]:
        sent.append(body)
        return answers.pop(0)

    prober = Prober("auto", "m", post)
    with pytest.raises(ProbeFailed):
        prober.prefill()
    assert prober.profile.prefill is None
    assert prober.prefill() == NO_PREFILL and prober.prefill() == NO_PREFILL
    assert len(sent) == 3 and prober.profile.kind == "openai"
    assert "HTTP 400" in dict(prober.profile.evidence)["prefill_continue_final_message"]

    named = Prober("vllm", "m", post)
    assert (named.prefill(), named.n(), named.logprobs()) == (CONTINUE_FINAL, True, True)
    assert len(sent) == 3 and named.profile.source == "named"
    with pytest.raises(ClearftError, match="server_kind"):
        kind_for("tgi", "http://127.0.0.1:8000/v1")
    assert kind_for("auto", "https://api.openai.com/v1") == "openai"
    assert kind_for("auto", "http://127.0.0.1:8000/v1") == "auto" and kind_for("vllm", "x") == "vllm"


# ---------------------------------------------------------------------------------------
# Stand-in servers

VERDICT_TOP = [("B", -0.1), ("A", -2.6), ("C", -4.0)]  # the model's real verdict: B
NEW_TURN_TOP = [("A", -0.2), ("C", -1.8), ("B", -3.5)]  # a fresh reply to the reflection prompt


class StandIn:
    """kind "vllm": continues a trailing assistant message only with continue_final_message
    (and, like vLLM, refuses it together with add_generation_prompt); kind "llamacpp":
    continues it as sent and, like recent llama.cpp, puts it back in front of the reply
    (log-probabilities only for what it generated); kind "openai": no prefill at all, and
    unknown fields are refused. All honour n, logprobs and max_tokens. `echo`: a reply to
    the no-prefill instruction writes "answer:" anyway."""

    def __init__(self, kind: str, echo: bool = False) -> None:
        self.kind, self.echo = kind, echo
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def tokens(self, messages: list[dict[str, str]], continuing: bool) -> list[tuple[str, list[tuple[str, float]]]]:
        last = messages[-1]["content"]
        if continuing and last.endswith("Par"):
            return [("is", []), (".", [])]
        if continuing and last.endswith("answer:"):
            return [(" B", [(" " + t, lp) for t, lp in VERDICT_TOP]), (", explanation: checked.", [])]
        user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        if 'without writing "answer:"' in user:
            if self.echo:
                return [("answer", []), (":", []), (" B", [(" " + t, lp) for t, lp in VERDICT_TOP]), (",", [])]
            return [("B", VERDICT_TOP), (", explanation: checked.", [])]
        if "Proposed Answer" in user:
            return [("A", NEW_TURN_TOP), (", explanation: it looks fine.", [])]
        if "capital of France" in user:
            return [("The", [("The", -0.1)]), (" capital", []), (" of", []), (" France", []), (" is", []),
                    (" Paris", []), (".", [])]
        if "answer:" in user:  # a consistency sample (chain-of-thought template)
            return [("explanation: 2 and 2 make 4, answer: 4", [])]
        return [("hi", [])]

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        cfm, agp = body.get("continue_final_message", False), body.get("add_generation_prompt", True)
        if self.kind == "openai" and ("continue_final_message" in body or "add_generation_prompt" in body):
            return 400, {"error": {"message": "Unrecognized request argument supplied: continue_final_message"}}
        if cfm and agp:
            return 400, {"error": {"message": "Cannot set both `continue_final_message` and `add_generation_prompt` to True."}}
        messages = body["messages"]
        prefilled = messages[-1]["role"] == "assistant"
        continuing = prefilled and (self.kind == "llamacpp" or (self.kind == "vllm" and bool(cfm)))
        toks = self.tokens(messages, continuing)[: body.get("max_tokens", 256)]
        logprobs = {"content": [{"token": t, "logprob": (top or [(t, -0.05)])[0][1],
                                 "top_logprobs": [{"token": a, "logprob": lp} for a, lp in (top or [(t, -0.05)])]}
                                for t, top in toks]} if body.get("logprobs") else None
        text = "".join(t for t, _ in toks)
        if continuing and self.kind == "llamacpp":
            text = messages[-1]["content"] + text
        choices = [{"index": i, "message": {"role": "assistant", "content": text}, "logprobs": logprobs,
                    "finish_reason": "stop"} for i in range(int(body.get("n", 1)))]
        return 200, {"choices": choices, "usage": {"prompt_tokens": 50, "completion_tokens": len(toks),
                                                   "prompt_tokens_details": {"cached_tokens": 32}}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                with server.lock:
                    server.bodies.append(body)
                status, data = server.answer(body)
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        return Handler


@pytest.fixture
def stand_ins() -> Iterator[list[StandIn]]:
    started: list[StandIn] = []
    yield started
    for s in started:
        s.close()


def start(stand_ins: list[StandIn], kind: str, echo: bool = False) -> StandIn:
    s = StandIn(kind, echo)
    stand_ins.append(s)
    return s


EXAMPLE = Example("r1", [{"role": "user", "content": "What is 2+2?"}], "4")


def reflect(backend: OpenAIBackend) -> dict[str, Any]:
    """One self-reflection round, as BSDetector asks it: the first reflection's evidence."""
    result = score_examples([EXAMPLE], backend, make_config("base", method="self-reflection"))[0]
    assert result.error is None, result.error
    reflection: dict[str, Any] = result.evidence["reflections"][0]
    return reflection


def sent_reflections(server: StandIn) -> list[dict[str, Any]]:
    return [b for b in server.bodies if "Proposed Answer" in json.dumps(b)]


@pytest.mark.network
def test_vllm_auto_probes_and_reads_the_verdict_after_the_prefix(stand_ins: list[StandIn]) -> None:
    server = start(stand_ins, "vllm")
    backend = OpenAIBackend(base_url=server.url, model="m", backoff=0.001)
    reflection = reflect(backend)
    assert reflection["verdict"] == "B" and reflection["probs"]["B"] > 0.9
    [body] = sent_reflections(server)
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["messages"][-1] == {"role": "assistant", "content": "answer:"}
    described = backend.describe()["server"]
    assert (described["kind"], described["prefill"], described["source"]) == ("vllm", CONTINUE_FINAL, "probe")
    assert described["logprobs"] is True
    reflect(backend)
    assert described["probe_requests"] == backend.describe()["server"]["probe_requests"]  # probed once
    backend.close()


@pytest.mark.network
def test_llamacpp_auto_sees_through_the_echoed_prefix(stand_ins: list[StandIn]) -> None:
    server = start(stand_ins, "llamacpp")
    backend = OpenAIBackend(base_url=server.url, model="m", backoff=0.001)
    reflection = reflect(backend)
    assert reflection["verdict"] == "B" and reflection["probs"] is not None and reflection["probs"]["B"] > 0.9
    [body] = sent_reflections(server)
    assert body["messages"][-1] == {"role": "assistant", "content": "answer:"} and "continue_final_message" not in body
    described = backend.describe()["server"]
    assert (described["kind"], described["prefill"]) == ("llamacpp", PLAIN)
    assert described["evidence"] == {"prefill_plain": "'The capital of France is Paris.'", "logprobs": "'hi'"}
    backend.close()


@pytest.mark.network
def test_without_continue_final_message_vllm_answers_a_new_turn(stand_ins: list[StandIn]) -> None:
    """The control: sent as to llama.cpp (what clearft did before), the letter read is the
    first token of a fresh reply, A, where the model's verdict is B."""
    server = start(stand_ins, "vllm")
    backend = OpenAIBackend(base_url=server.url, model="m", server_kind="llamacpp", backoff=0.001)
    assert reflect(backend)["verdict"] == "A"
    assert backend.describe()["server"]["probe_requests"] == 0  # a named kind is not probed
    backend.close()


@pytest.mark.network
@pytest.mark.parametrize("echo", [False, True])
def test_a_server_without_prefill_gets_the_instruction_and_the_verdict_is_right(
        stand_ins: list[StandIn], echo: bool) -> None:
    server = start(stand_ins, "openai", echo=echo)
    backend = OpenAIBackend(base_url=server.url, model="m", backoff=0.001)
    reflection = reflect(backend)
    assert reflection["verdict"] == "B" and reflection["probs"] is not None and reflection["probs"]["B"] > 0.9
    [body] = sent_reflections(server)
    assert [m["role"] for m in body["messages"]] == ["user"] and body["messages"][0]["content"].endswith(ASK)
    assert "continue_final_message" not in body and body["max_tokens"] == 8 and body["top_logprobs"] == 10
    server_meta = backend.describe()["server"]
    assert (server_meta["kind"], server_meta["prefill"]) == ("openai", NO_PREFILL)
    assert "HTTP 400" in server_meta["evidence"]["prefill_continue_final_message"]
    backend.close()


@pytest.mark.network
def test_samples_go_in_one_request_where_n_is_honoured(stand_ins: list[StandIn]) -> None:
    server = start(stand_ins, "vllm")
    backend = OpenAIBackend(base_url=server.url, model="m", backoff=0.001)
    config = make_config("low", method="bsdetector", similarity="exact")  # k=3, one reflection
    scoring = Usage()
    result = score_examples([EXAMPLE], backend, config, scoring)[0]
    assert result.error is None and len(result.evidence["samples"]) == 3
    # The scoring run's own count carries the server's cached prompt tokens through, so a
    # score summary shows what the prompt cache saved (32 of 50 on every stand-in reply).
    assert scoring.requests == 2 and scoring.prompt_tokens == 100 and scoring.cached_prompt_tokens == 64
    assert all(s["answer"] == "4" for s in result.evidence["samples"])
    samples = [b for b in server.bodies if "step-by-step" in json.dumps(b)]
    assert len(samples) == 1 and samples[0]["n"] == 3
    described = backend.describe()
    assert described["server"]["n"] is True and described["server"]["per_sample_seeds"] is False
    assert described["seeded_sampling"] is False
    # Honest usage: every answered request, its cached prompt tokens apart.
    usage = described["usage"]
    assert usage["requests"] == len(server.bodies)  # probes included
    assert usage["cached_prompt_tokens"] == 32 * usage["requests"]
    assert usage["evaluated_prompt_tokens"] == 18 * usage["requests"]
    backend.close()


@pytest.mark.network
def test_group_samples_false_keeps_one_seeded_request_per_sample(stand_ins: list[StandIn]) -> None:
    server = start(stand_ins, "vllm")
    backend = OpenAIBackend(base_url=server.url, model="m", group_samples=False, backoff=0.001)
    out = backend.generate([GenerateRequest(CHAT, n=3, temperature=1.0, seed=5)])
    assert len(out[0].texts) == 3 and sorted(b["seed"] for b in server.bodies) == [5, 6, 7]
    assert backend.describe()["server"]["per_sample_seeds"] is True and backend.describe()["server"]["n"] is None
    backend.close()
