"""The loss on the target's tokens, with the LM head evaluated only where a token is trained.

TRL's SFTTrainer replaces the model's output layer with a fused LM head that, on devices
without Triton (every CPU), projects *every* position through the vocabulary and computes
entropies for its logs, then masks the prompt out (``trl/trainer/utils.add_fused_lm_head``:
"Elsewhere ... every position is scored instead"). With the loss on the target only, almost
every position is a prompt token: on the main job's BANKING77 rows (about 130 tokens, a
target of a few), that projection (576 x 49,152 for SmolLM2) was about a third of a CPU
training step (bench/finetune_speed.py). Here the backbone runs as before and the head sees
only the trained positions; the loss is the same sum of token log-likelihoods divided by the
same count, so the gradients are TRL's up to float rounding.

TRL's own loss is kept wherever it computes something else: a head that is more than a linear
layer (a softcap or a logit scale in the config), another objective (DFT, label smoothing, a
MoE router's auxiliary loss, a custom loss function), several processes (DDP must see the
forward through its wrapper), and micro-batches with too many trained logits (MAX_LOGITS).

The rows of a micro-batch often begin with the same tokens: the chat template's system line
and an instruction every row shares (on the main job's rows, the instruction lists the eight
intents: 98 of about 133 tokens). Those tokens are run once, for one row, and their keys and
values are handed to every row of the batch as a prompt cache (``shared_prefix_length``): the
backbone's work falls with the shared part, the loss and the gradients are the same (the
cache's gradient sums over the rows that read it). Only LoRA dropout differs: the shared
tokens draw one mask for the batch instead of one a row.
"""

from __future__ import annotations

from typing import Any

from clearft.backends import prefix_cache as shared_prefix

# Above this many logits a micro-batch (trained tokens x vocabulary), TRL's tiled head is kept:
# here the logits, their log-softmax and its gradient are held at once, about 3 x 4 bytes each
# (1.5 GiB at this limit), which long targets with a large vocabulary would exceed.
MAX_LOGITS = 2**27

# config fields that make a model's logits more than ``lm_head(hidden)``
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier",
                     "logits_scaling")


def head_is_linear(model: Any) -> bool:
    """True when the model's logits are its output embedding applied to the last hidden state."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return all(getattr(config, name, None) is None for name in _LOGIT_TRANSFORMS)


def shared_prefix_length(inputs: dict[str, Any]) -> int:
    """How many leading tokens every row of a right-padded micro-batch has in common, stopping
    before the first trained target (its prediction reads the previous position's state) and
    before any padding; 0 when that is under prefix_cache.MIN_SHARED_PREFIX or the batch is one row."""
    ids, labels = inputs["input_ids"], inputs["labels"]
    if ids.shape[0] < 2 or ids.shape[1] < 2 or set(inputs) - {"input_ids", "attention_mask", "labels"}:
        return 0
    same = (ids == ids[:1]).all(0)
    mask = inputs.get("attention_mask")
    if mask is not None:
        same &= mask.bool().all(0)
    # the target at position t is predicted from position t - 1: a prefix of n positions must
    # leave every target at position n or later out of it
    same[:-1] &= (labels[:, 1:] == -100).all(0)
    same[-1] = False  # every row keeps at least one position of its own
    length = int(same.int().cumprod(0).sum())
    return length if length >= shared_prefix.MIN_SHARED_PREFIX else 0


def _hidden_states(backbone: Any, inputs: dict[str, Any], shared: int) -> tuple[Any, int]:
    """The backbone's last hidden states from position ``shared`` on, and ``shared``: the
    first positions, the same in every row, run once and read by every row as a cache (whose
    length sets the rest's positions); 0 where the model's cache cannot be shared."""
    batch = {k: v for k, v in inputs.items() if k != "labels"}
    name = shared_prefix.cache_argument(backbone)
    prefix = (shared_prefix.prefix_cache(backbone, batch["input_ids"][:1, :shared], len(batch["input_ids"]), name)
              if shared else None)
    if prefix is None:
        return backbone(**batch, use_cache=False).last_hidden_state, 0
    return backbone(input_ids=batch["input_ids"][:, shared:], attention_mask=batch.get("attention_mask"),
                    use_cache=True, **{name: prefix}).last_hidden_state, shared


def completion_loss(model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None,
                    share_prefix: bool = True) -> tuple[Any, Any, Any]:
    """(loss, number of trained tokens, number predicted right) for one micro-batch.

    ``model`` is the trainer's model (a PEFT model or a plain causal LM); ``inputs`` the
    collator's batch, with ``labels`` of -100 wherever no loss is taken. Divided by
    ``num_items_in_batch`` when the trainer gives it (gradient accumulation counts the
    tokens of all micro-batches of a step), as TRL does. With ``share_prefix`` the tokens all
    rows begin with run once (module docstring).
    """
    import torch
    import torch.nn.functional as F

    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    backbone = getattr(causal_lm, causal_lm.base_model_prefix)
    labels = inputs["labels"]
    # with activation checkpointing the backbone keeps no cache to share
    checkpointing = getattr(backbone, "gradient_checkpointing", False) and backbone.training
    shared = shared_prefix_length(inputs) if share_prefix and not checkpointing else 0
    hidden, shared = _hidden_states(backbone, inputs, shared)
    hidden = hidden[:, :-1]  # positions shared .. end - 1
    targets = labels[:, shared + 1:]
    trained = targets != -100
    logits = causal_lm.get_output_embeddings()(hidden[trained]).float()
    wanted = targets[trained]
    loss_sum = F.cross_entropy(logits, wanted, reduction="sum")
    count = trained.sum()
    # a step whose rows all lost their target to truncation: a zero loss, not 0 / 0
    denominator = (count if num_items_in_batch is None else torch.as_tensor(num_items_in_batch)).clamp(min=1)
    with torch.no_grad():
        right = (logits.argmax(-1) == wanted).sum()
    return loss_sum / denominator, count, right


def plain_objective(trainer: Any) -> bool:
    """Does `trainer` (an SFTTrainer) train plain token log-likelihood in one process?"""
    return (getattr(trainer.args, "loss_type", "nll") in ("nll", "chunked_nll")
            and getattr(trainer, "label_smoother", None) is None
            and getattr(trainer, "compute_loss_func", None) is None
            and not getattr(trainer, "aux_loss_enabled", False)
            and trainer.accelerator.num_processes == 1)


def trainer_class(base: type, share_prefix: bool = True) -> type:
    """``base`` (TRL's SFTTrainer) with the loss above, for devices where TRL scores every
    position; ``share_prefix``: run the tokens a micro-batch's rows share once."""

    class CompletionLossTrainer(base):  # type: ignore[misc, valid-type]
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # type: ignore[no-untyped-def]
            trained = int((inputs["labels"][:, 1:] != -100).sum())
            vocab = self.model.get_output_embeddings().weight.shape[0]
            if (return_outputs or not head_is_linear(self.model) or not plain_objective(self)
                    or trained * vocab > MAX_LOGITS):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            loss, count, right = completion_loss(model, inputs, num_items_in_batch, share_prefix)
            mode = "train" if self.model.training else "eval"
            n = int(count)
            if n:
                self._metrics[mode]["mean_token_accuracy"].append(int(right) / n)
            if mode == "train" and "attention_mask" in inputs and hasattr(self, "_total_train_tokens"):
                self._total_train_tokens += int(inputs["attention_mask"].sum())  # TRL's running count
                self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
            return loss

    return CompletionLossTrainer
