"""Step 4a of CLEAR: the fine-tuned model writes a candidate response (temperature 0)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clearft.backends.base import Backend, GenerateRequest
from clearft.data.example import Example

# How a refused candidate's error reads; why_no_candidate() maps it back to a reason.
NOT_A_LABEL = "is not one of the dataset's labels"
WRONG_FORMAT = "does not fit the"


@dataclass
class Candidate:
    id: str
    text: str | None
    error: str | None = None


def check_curated_model(model: str | None, candidate_model: str | None, model_name: str = "--model",
                        candidate_name: str = "--candidate-model") -> None:
    """`model` names the model being curated (the judge), the same model everywhere; a model
    clearft fine-tuned there, with no candidate model, is the old meaning of correct's --model
    (the candidates' writer, now `candidate_name`): a one-line error says so, not a run that
    judges with the fine-tuned model."""
    from clearft.errors import ClearftError
    from clearft.training.sft import is_finetune_output

    if model and candidate_model is None and is_finetune_output(model):
        raise ClearftError(
            f"{model_name} {model}: a model clearft fine-tuned, but {model_name} names the model being "
            f"curated (the judge); the fine-tuned model that writes candidates is {candidate_name} {model}")


def auto_max_tokens(responses: Sequence[str], floor: int = 16, cap: int = 512) -> int:
    """Room for a candidate as long as the longest target (about 3 characters a token), with margin."""
    longest = max((len(r) for r in responses), default=0)
    return max(floor, min(cap, longest // 3 * 2 + floor))


def generate_candidates(
    examples: Sequence[Example],
    backend: Backend,
    *,
    max_tokens: int | None = None,
    seed: int = 0,
    batch_size: int = 32,
) -> list[Candidate]:
    """One greedy candidate per example, in order. A failed call gives an error, not an exception."""
    limit = max_tokens or auto_max_tokens([ex.response for ex in examples])
    out: list[Candidate] = []
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        requests = [
            GenerateRequest(messages=ex.messages, n=1, temperature=0.0, max_tokens=limit, seed=seed)
            for ex in chunk
        ]
        for ex, comp in zip(chunk, backend.generate(requests), strict=True):
            if not comp.ok or not comp.texts:
                out.append(Candidate(ex.id, None, comp.error or "no text returned"))
            else:
                out.append(Candidate(ex.id, comp.texts[0].strip()))
    return out


def conform(ds: Any, ex: Example, text: str | None) -> tuple[str | None, str | None]:
    """(candidate the dataset's record format can hold, or None; why not).

    A fine-tuned model may answer "A. positive" where a multiple-choice record holds a letter:
    the letter is taken when the reply names exactly one option; a reply that still does not
    fit the format is no candidate (so it can never be written into the data)."""
    if text is None or ds is None:
        return text, None
    try:
        ds.format.parse(ds.with_response(ex, text))
        return text, None
    except Exception as exc:  # the format's own validation: FieldProblem, ValueError, ...
        problem = str(exc) or type(exc).__name__
    if ds.format.name == "multiple-choice":
        from clearft.answers import extract_choice
        from clearft.data.formats import get_list

        try:
            letter = extract_choice(text, [str(o) for o in get_list(ex.record, "options")])
        except Exception:
            letter = None
        if letter:
            return letter, None
    return None, f"candidate {text[:80]!r} {WRONG_FORMAT} '{ds.format.name}' format: {problem}"


def label_set(responses: Sequence[str]) -> frozenset[str] | None:
    """The dataset's labels (normalised) when its targets as written are labels (the one
    label-space rule, scoring/label_space.py), else None."""
    from clearft.scoring.label_space import looks_like_labels
    from clearft.scoring.parsing import normalize_answer

    if not looks_like_labels(responses):
        return None
    return frozenset(normalize_answer(r) for r in responses)


def within_labels(cand: Candidate, labels: frozenset[str] | None) -> Candidate:
    """A candidate for a label target must be one of the dataset's labels.

    A small fine-tuned model invents near-miss intents ("transfer_fee" for
    "transfer_fee_charged") that a small judge then happily prefers (measured on the bundled
    BANKING77 slice: 6 of 6 replacements were invented or wrong). No such candidate can be
    written into the data; it stays visible with its reason.
    """
    from clearft.scoring.parsing import normalize_answer

    if cand.text is None or labels is None or normalize_answer(cand.text) in labels:
        return cand
    return Candidate(cand.id, None, f"candidate {cand.text[:80]!r} {NOT_A_LABEL}")


def why_no_candidate(error: str | None) -> str:
    """The correction reason of a row left without a candidate. Read from the error text, as
    that is what a candidates file keeps between the candidate and the correct stages."""
    from clearft.correction import verdicts as v

    if error and NOT_A_LABEL in error:
        return v.CANDIDATE_NOT_A_LABEL
    if error and WRONG_FORMAT in error:
        return v.CANDIDATE_WRONG_FORMAT
    return v.CANDIDATE_ERROR

