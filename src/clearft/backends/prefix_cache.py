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

from clearft.deps import require

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


def padded_rows(rows: Sequence[Sequence[int]], pad: int, shared: int) -> tuple[list[list[int]], list[list[int]]]:
    """(token ids, attention mask) of rows padded to one width: the first `shared` tokens (the
    same in every row), then padding, then each row's own tokens; `shared` 0 is plain left
    padding. Positions follow the attention mask, so a row's own tokens sit right after the
    prefix, as in the row alone."""
    own = [list(r[shared:]) for r in rows]
    tail = max(len(r) for r in own)
    head = list(rows[0][:shared])
    return ([head + [pad] * (tail - len(r)) + r for r in own],
            [[1] * shared + [0] * (tail - len(r)) + [1] * len(r) for r in own])


def generate_sharing_prefix(model: Any, rows: Sequence[Sequence[int]], pad: int, gen_args: dict[str, Any],
                            device: Any) -> Any:
    """`model.generate` over `rows` (token ids), the tokens they all begin with run once as a
    cache every row reads; plain left padding where the model cannot share (then never again).

    Only full-attention layers share: a sliding window counts cache slots, and the padding
    between prefix and row would push prefix tokens out of a padded row's window. A model that
    names its own cache (generation_config.cache_implementation) takes none handed in."""
    torch = require("torch")
    shared = common_prefix_length(rows)
    if shared and not getattr(model.generation_config, "cache_implementation", None):
        ids, mask = (torch.tensor(x, device=device) for x in padded_rows(rows, pad, shared))
        cache = prefix_cache(model, ids[:1, :shared], len(rows), layers_allowed=("DynamicLayer",))
        if cache is not None:
            try:
                return model.generate(input_ids=ids, attention_mask=mask, **gen_args, **{cache_argument(model): cache})
            except (TypeError, ValueError):  # this generate refuses a cache handed in: never again
                setattr(model, UNSHAREABLE, True)
    ids, mask = (torch.tensor(x, device=device) for x in padded_rows(rows, pad, 0))
    return model.generate(input_ids=ids, attention_mask=mask, **gen_args)
