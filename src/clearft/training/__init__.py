"""Fine-tuning: built-in LoRA (TRL + PEFT), an external command, or OpenAI fine-tuning jobs;
plus exporting curated data in the formats other trainers read.

Importing this package is cheap: torch, transformers, peft and trl load inside the functions.
"""

from clearft.training.base_model import ensure_base_model
from clearft.training.config import FinetuneConfig
from clearft.training.external import finetune_external
from clearft.training.sft import finetune, is_finished

__all__ = [
    "FinetuneConfig",
    "ensure_base_model",
    "finetune",
    "finetune_external",
    "is_finished",
]
