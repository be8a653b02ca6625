"""Exceptions users see. Each says what went wrong and where, in words a user can act on."""

from __future__ import annotations


class ClearftError(Exception):
    """Base class of every error clearft raises on purpose."""


class DataError(ClearftError):
    """A problem with one input record: names the file, the line (or row) and the field."""

    def __init__(self, path: str, line: int | None, field: str | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.reason = reason
        where = self.path
        if line is not None:
            where += f", line {line}"
        if field:
            where += f", field '{field}'"
        super().__init__(f"{where}: {reason}")


class CapabilityError(ClearftError):
    """The chosen backend lacks something the chosen method needs (checked before a run)."""


class MissingDependencyError(ClearftError):
    """An optional dependency is not installed; the message carries the pip line to run."""


class BackendError(ClearftError):
    """A model call failed for good (after retries)."""
