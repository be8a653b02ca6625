"""Fine-tuning hosted models through the OpenAI fine-tuning jobs API (official `openai` client).

Upload the training file, create the job, follow it until it ends, return the fine-tuned
model's id (usable with the openai backend). The job id is recorded in
``OUT/openai_job.json`` as soon as the job exists, so a rerun after a crash follows the same
job instead of paying for a second one.

Tested only against a local server speaking the same files/jobs API, not the real service.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from clearft.data.example import Example
from clearft.data.options import DataOptions
from clearft.errors import BackendError, ClearftError

STATE_FILE = "openai_job.json"
FINAL_STATES = ("succeeded", "failed", "cancelled")


def make_client(base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                timeout: float = 60.0) -> Any:
    from clearft.deps import require

    openai = require("openai", "OpenAI fine-tuning jobs")
    key = os.environ.get(api_key_env)
    if not key and base_url is None:
        raise ClearftError(f"OpenAI fine-tuning needs an API key in the environment variable {api_key_env}")
    return openai.OpenAI(api_key=key or "not-needed", base_url=base_url, timeout=timeout)


def finetune_openai(
    data: str | Path | Iterable[Example],
    model: str,
    out_dir: str | Path,
    *,
    client: Any = None,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    hyperparameters: dict[str, Any] | None = None,
    suffix: str | None = None,
    seed: int | None = 0,
    poll_seconds: float = 15.0,
    timeout_s: float | None = None,
    on_event: Callable[[str], None] | None = print,
    data_options: DataOptions | None = None,
) -> str:
    """Fine-tune hosted `model` on `data`; return the fine-tuned model id.

    `data`: Examples or a data file (read with clearft.data, options in `data_options`), or
    an OpenAI chat JSONL file used as is when its name ends in .openai.jsonl.
    `hyperparameters` (n_epochs, batch_size, learning_rate_multiplier) go to the supervised
    method. Raises BackendError if the job fails or is cancelled.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / STATE_FILE
    state: dict[str, Any] = json.loads(state_path.read_text()) if state_path.is_file() else {}
    if state.get("status") == "succeeded" and state.get("fine_tuned_model"):
        return str(state["fine_tuned_model"])
    client = client or make_client(base_url, api_key_env)

    if not state.get("job_id"):
        file_id = _upload(client, data, data_options)
        method: dict[str, Any] = {"type": "supervised", "supervised": {}}
        if hyperparameters:
            method["supervised"]["hyperparameters"] = dict(hyperparameters)
        kwargs: dict[str, Any] = {"model": model, "training_file": file_id, "method": method}
        if suffix:
            kwargs["suffix"] = suffix
        if seed is not None:
            kwargs["seed"] = seed
        job = client.fine_tuning.jobs.create(**kwargs)
        state = {"job_id": job.id, "training_file": file_id, "model": model, "status": job.status}
        _write_state(state_path, state)
        if on_event:
            on_event(f"created fine-tuning job {job.id} on {model}")

    job = _follow(client, state["job_id"], poll_seconds, timeout_s, on_event)
    state.update(status=job.status, fine_tuned_model=job.fine_tuned_model)
    _write_state(state_path, state)
    if job.status != "succeeded" or not job.fine_tuned_model:
        error = getattr(job, "error", None)
        message = getattr(error, "message", None) or str(error or "")
        raise BackendError(f"OpenAI fine-tuning job {job.id} ended {job.status}: {message}".rstrip(": "))
    return str(job.fine_tuned_model)


def _upload(client: Any, data: str | Path | Iterable[Example], data_options: DataOptions | None) -> str:
    if isinstance(data, (str, Path)) and str(data).endswith(".openai.jsonl"):
        with open(data, "rb") as f:
            return str(client.files.create(file=f, purpose="fine-tune").id)
    from clearft.training.export import export_examples
    from clearft.training.sft import load_examples

    examples = load_examples(data, data_options)
    if not examples:
        raise ClearftError("no training examples: the data is empty")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.jsonl"
        export_examples(examples, path, "openai")
        with path.open("rb") as f:
            return str(client.files.create(file=f, purpose="fine-tune").id)


def _follow(client: Any, job_id: str, poll_seconds: float, timeout_s: float | None,
            on_event: Callable[[str], None] | None) -> Any:
    """Poll the job until it ends, reporting each new event once."""
    started = time.monotonic()
    seen: set[str] = set()
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if on_event:
            events = list(client.fine_tuning.jobs.list_events(job_id, limit=50).data)
            for event in reversed(events):  # the API lists newest first
                if event.id not in seen:
                    seen.add(event.id)
                    on_event(f"[{job_id}] {event.message}")
        if job.status in FINAL_STATES:
            return job
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            raise BackendError(
                f"OpenAI fine-tuning job {job_id} still {job.status} after {timeout_s:.0f} s; "
                "rerun the same command to keep following it"
            )
        time.sleep(poll_seconds)


def _write_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, path)
