"""What an OpenAI-compatible server supports, found out once per backend, or named.

Three features differ between servers and change what clearft must send:

* prefill: continuing a trailing assistant message (reflection reads the letter after a
  prefilled "answer:"). llama.cpp's server continues it as sent ("plain"); vLLM only with
  ``continue_final_message: true, add_generation_prompt: false`` (otherwise it closes that
  turn and the model starts a new one); OpenAI's hosted API has no prefill ("none");
* ``n``: several choices in one request (older llama.cpp servers refuse any n but 1);
* log-probabilities of the generated tokens.

A named kind (``server_kind="llamacpp" | "vllm" | "openai"``) takes the features from
``NAMED`` and sends nothing to find out (named ``llamacpp`` sends one request per sample,
which every build takes). ``auto`` asks the server itself, lazily, with one
tiny request per feature, the first time a request needs that feature:

* prefill: the question "What is the capital of France?" with the assistant turn prefilled
  as "The capital of France is Par", at most 4 tokens. A server that continues it answers
  "is..." (lower case: no new turn starts so), or the prefix and "is..." (llama.cpp echoes
  a prefilled message; a new turn cannot write those six words in 4 tokens); one that
  starts a new turn answers "The capital of", "Paris..." or the like. First sent plain,
  then vLLM's way; neither continued: "none" (which works with every server);
* n: ``n=2``; honoured if two choices come back (older llama.cpp builds answer HTTP 500);
* logprobs: ``logprobs=true, top_logprobs=2``; supported if the first token's top
  log-probabilities come back.

A probe the server refused (an HTTP error) is an answer: the feature is missing. A probe
that got no answer at all (the server is down) is not recorded; ``ProbeFailed`` tells the
backend, which asks again on its next call. The judging functions are pure and tested by
plain equality.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from clearft.errors import ClearftError

SERVER_KINDS = ("auto", "llamacpp", "vllm", "openai")
PLAIN, CONTINUE_FINAL, NO_PREFILL = "plain", "continue_final_message", "none"
KIND_OF_PREFILL = {PLAIN: "llamacpp", CONTINUE_FINAL: "vllm", NO_PREFILL: "openai"}


@dataclass(frozen=True)
class ServerProfile:
    kind: str | None  # "llamacpp" | "vllm" | "openai" (how a prefix is sent); None: not known yet
    prefill: str | None  # PLAIN | CONTINUE_FINAL | NO_PREFILL; None: not known yet
    n: bool | None  # honours n in one request
    logprobs: bool | None  # returns top log-probabilities
    source: str  # "named" (server_kind given), "base_url" (OpenAI's own API) or "probe"
    evidence: tuple[tuple[str, str], ...] = ()  # (probe, what the server answered)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["evidence"] = dict(self.evidence)
        return d


NAMED = {
    "llamacpp": ServerProfile("llamacpp", PLAIN, False, True, "named"),
    "vllm": ServerProfile("vllm", CONTINUE_FINAL, True, True, "named"),
    "openai": ServerProfile("openai", NO_PREFILL, True, True, "named"),
}

PROBE_QUESTION = "What is the capital of France? Answer in one short sentence."
PROBE_PREFIX = "The capital of France is Par"


# ---------------------------------------------------------------------------------------
# Pure parts: the probe bodies and how their replies are judged


def prefill_probe(model: str, style: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": PROBE_QUESTION},
                     {"role": "assistant", "content": PROBE_PREFIX}],
        "temperature": 0.0,
        "max_tokens": 4,
        "n": 1,
        "seed": 0,
    }
    if style == CONTINUE_FINAL:
        body.update(continue_final_message=True, add_generation_prompt=False)
    return body


def n_probe(model: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "Say one word."}],
            "temperature": 1.0, "max_tokens": 1, "n": 2, "seed": 0}


def logprobs_probe(model: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "Say yes."}],
            "temperature": 0.0, "max_tokens": 1, "n": 1, "seed": 0,
            "logprobs": True, "top_logprobs": 2}


def _choices(data: dict[str, Any]) -> list[dict[str, Any]]:
    choices = data.get("choices")
    return [c for c in choices if isinstance(c, dict)] if isinstance(choices, list) else []


def reply_text(data: dict[str, Any]) -> str:
    choices = _choices(data)
    message = choices[0].get("message") if choices else None
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""


def continues(data: dict[str, Any]) -> bool:
    """Did the reply continue "...is Par" ("is.", "is, ...") rather than start a new turn?
    A reply that starts with the whole prefix is the server echoing it (llama.cpp does): a
    new turn cannot write those six words within the probe's 4 tokens."""
    text = reply_text(data)
    if text.startswith(PROBE_PREFIX):
        text = text[len(PROBE_PREFIX):]
    return text.lstrip().startswith("is")


def honours_n(data: dict[str, Any]) -> bool:
    return len(_choices(data)) == 2


def has_logprobs(data: dict[str, Any]) -> bool:
    choices = _choices(data)
    logprobs = choices[0].get("logprobs") if choices else None
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    first = content[0] if isinstance(content, list) and content else None
    return isinstance(first, dict) and bool(first.get("top_logprobs"))


# ---------------------------------------------------------------------------------------
# The prober: once per backend, thread-safe

# post(body) -> (reply JSON or None, HTTP status of a refusal or None, error text).
# (None, None, error): no answer at all (connection, timeouts, garbage, after retries).
Post = Callable[[dict[str, Any]], tuple[dict[str, Any] | None, int | None, str]]


class ProbeFailed(Exception):
    """The server gave no answer to a probe; nothing was recorded."""


def kind_for(server_kind: str, base_url: str) -> str:
    """The kind to use: as named; for "auto", OpenAI's own API is known by its address (its
    models may well write "is." in a new turn: the prefill probe is not for them)."""
    if server_kind not in SERVER_KINDS:
        raise ClearftError(f"server_kind must be one of {', '.join(SERVER_KINDS)}, not {server_kind!r} "
                           "(the option, or CLEARFT_OPENAI_SERVER_KIND)")
    if server_kind == "auto" and urlsplit(base_url).hostname == "api.openai.com":
        return "openai"
    return server_kind


class Prober:
    def __init__(self, server_kind: str, model: str, post: Post,
                 redact: Callable[[str], str] = lambda text: text, source: str = "named") -> None:
        if server_kind not in SERVER_KINDS:
            raise ValueError(f"server_kind must be one of {', '.join(SERVER_KINDS)}, not {server_kind!r}")
        self.model = model
        self._post = post
        self._redact = redact
        self._lock = threading.Lock()
        self.probes_sent = 0
        named = NAMED.get(server_kind)
        self._profile = replace(named, source=source) if named else ServerProfile(None, None, None, None, "probe")

    @property
    def profile(self) -> ServerProfile:
        with self._lock:
            return self._profile

    def prefill(self) -> str:
        with self._lock:
            if self._profile.prefill is None:
                for style in (PLAIN, CONTINUE_FINAL):
                    if self._ask(f"prefill_{style}", prefill_probe(self.model, style), continues):
                        break
                else:
                    style = NO_PREFILL
                self._profile = replace(self._profile, prefill=style, kind=KIND_OF_PREFILL[style])
            return self._profile.prefill  # type: ignore[return-value]

    def n(self) -> bool:
        with self._lock:
            if self._profile.n is None:
                ok = self._ask("n", n_probe(self.model), honours_n)  # records its evidence
                self._profile = replace(self._profile, n=ok)
            return bool(self._profile.n)

    def logprobs(self) -> bool:
        with self._lock:
            if self._profile.logprobs is None:
                ok = self._ask("logprobs", logprobs_probe(self.model), has_logprobs)
                self._profile = replace(self._profile, logprobs=ok)
            return bool(self._profile.logprobs)

    def _ask(self, name: str, body: dict[str, Any], judge: Callable[[dict[str, Any]], bool]) -> bool:
        self.probes_sent += 1
        data, status, error = self._post(body)
        if data is None and status is None:
            raise ProbeFailed(f"no answer to the {name} probe: {error}")
        ok = data is not None and judge(data)
        seen = self._redact(error)[:160] if data is None else repr(self._redact(reply_text(data))[:40])
        self._profile = replace(self._profile, evidence=(*self._profile.evidence, (name, seen)))
        return ok
