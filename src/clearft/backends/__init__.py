"""Model backends behind one batched contract (see base.py); loaded lazily by name."""

from clearft.backends.base import (
    Backend,
    Capabilities,
    Completion,
    GenerateRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Message,
)
from clearft.backends.registry import BACKENDS, DEFAULT_BACKEND, load_backend

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "Backend",
    "Capabilities",
    "Completion",
    "GenerateRequest",
    "LoglikelihoodRequest",
    "LoglikelihoodResult",
    "Message",
    "load_backend",
]
