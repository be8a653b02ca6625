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
"""

from __future__ import annotations

from typing import Any

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


def completion_loss(model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> tuple[Any, Any, Any]:
    """(loss, number of trained tokens, number predicted right) for one micro-batch.

    ``model`` is the trainer's model (a PEFT model or a plain causal LM); ``inputs`` the
    collator's batch, with ``labels`` of -100 wherever no loss is taken. Divided by
    ``num_items_in_batch`` when the trainer gives it (gradient accumulation counts the
    tokens of all micro-batches of a step), as TRL does.
    """
    import torch
    import torch.nn.functional as F

    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    backbone = getattr(causal_lm, causal_lm.base_model_prefix)
    labels = inputs["labels"]
    backbone_inputs = {k: v for k, v in inputs.items() if k != "labels"}
    backbone_inputs["use_cache"] = False
    hidden = backbone(**backbone_inputs).last_hidden_state[:, :-1]
    targets = labels[:, 1:]
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


def trainer_class(base: type) -> type:
    """``base`` (TRL's SFTTrainer) with the loss above, for devices where TRL scores every position."""

    class CompletionLossTrainer(base):  # type: ignore[misc, valid-type]
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # type: ignore[no-untyped-def]
            trained = int((inputs["labels"][:, 1:] != -100).sum())
            vocab = self.model.get_output_embeddings().weight.shape[0]
            if (return_outputs or not head_is_linear(self.model) or not plain_objective(self)
                    or trained * vocab > MAX_LOGITS):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            loss, count, right = completion_loss(model, inputs, num_items_in_batch)
            mode = "train" if self.model.training else "eval"
            n = int(count)
            if n:
                self._metrics[mode]["mean_token_accuracy"].append(int(right) / n)
            if mode == "train" and "attention_mask" in inputs and hasattr(self, "_total_train_tokens"):
                self._total_train_tokens += int(inputs["attention_mask"].sum())  # TRL's running count
                self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
            return loss

    return CompletionLossTrainer
