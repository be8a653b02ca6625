"""Run the tokens every row of a batch begins with once, and hand their keys and values to
every row as a prompt cache.

Batches of one task usually begin alike: the chat template's system line and an instruction
every row shares (on the main job's rows, 98 of about 133 tokens). A transformer's keys and
values at those positions are the same in every row, so one row's pass computes them for all:
the rest of each row then reads them as a cache. Used by fine-tuning
(training/completion_loss.py) and by greedy and seeded generation (transformers_backend.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

# Below this many shared tokens a batch runs whole: the saving would not pay for a second
# pass through the model.
MIN_SHARED_PREFIX = 16

# Cache layers that hold only keys and values, which any number of rows can read: a recurrent
# layer's state (Mamba, linear attention) cannot be handed on this way.
SHAREABLE_LAYERS = ("DynamicLayer", "DynamicSlidingWindowLayer")
# set on a model whose cache could not be shared once, so later batches do not try again
UNSHAREABLE = "_clearft_unshareable_cache"


def common_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """How many leading tokens all rows share, leaving every row at least one token of its own
    (generation reads the last prompt position); 0 under MIN_SHARED_PREFIX or for one row."""
    if len(rows) < 2:
        return 0
    first, shortest = rows[0], min(len(r) for r in rows)
    n = 0
    while n < shortest - 1 and all(r[n] == first[n] for r in rows):
        n += 1
    return n if n >= MIN_SHARED_PREFIX else 0


def cache_argument(model: Any) -> str:
    """The name under which `model` (a backbone or a causal LM) takes a cache."""
    # transformers 5.25 renamed `past_key_values` to `cache`
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def prefix_cache(model: Any, prefix_ids: Any, rows: int, name: str | None = None,
                 layers_allowed: tuple[str, ...] | None = None) -> Any:
    """The cache of `prefix_ids` (1 x n token ids) run once through `model`, repeated for `rows`
    rows; None (and the model marked, so no later batch tries) where its cache cannot be handed
    to several rows. `layers_allowed`: the cache layer types the caller can use
    (default SHAREABLE_LAYERS)."""
    if getattr(model, UNSHAREABLE, False):
        return None
    name = name or cache_argument(model)
    extra = {}
    if "logits_to_keep" in inspect.signature(model.forward).parameters:
        extra["logits_to_keep"] = 1  # a causal LM: no vocabulary projection of the prefix
    prefix = model(input_ids=prefix_ids, use_cache=True, **extra).get(name)
    layers = getattr(prefix, "layers", None)  # transformers >= 4.56; a plain DynamicCache before
    allowed = SHAREABLE_LAYERS if layers_allowed is None else layers_allowed
    if (prefix is None or not hasattr(prefix, "batch_repeat_interleave")
            or (layers is None and type(prefix).__name__ != "DynamicCache")
            or any(type(layer).__name__ not in allowed for layer in layers or [])
            # layers that checkpoint their activations keep nothing, whatever the flags say
            or prefix.get_seq_length() != prefix_ids.shape[1]):
        setattr(model, UNSHAREABLE, True)
        return None
    prefix.batch_repeat_interleave(rows)  # the same keys and values for every row
    return prefix
