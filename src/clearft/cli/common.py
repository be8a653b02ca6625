"""Options shared by several commands, and turning them into API objects."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clearft.data.options import DataOptions

# --- number options with a range -------------------------------------------------------
# Each numeric option declares its range with one of the actions below
# (``add_argument("--eta", action=UnitInterval, ...)``): argparse converts the text with the
# action's type (int or float) and the action refuses a value outside the range. Either way
# a bad value is an argparse error naming the flag, one line (main._one_line_error), exit 2:
#   clearft correct: error: argument --eta: must be between 0 and 1, got 1.5
# An action rather than a type= function: the type stays plain int/float, so the values of a
# `run --config` file keep config_file.py's type checks and messages; main() then checks
# their range too (check_ranges).


class Ranged(argparse.Action):
    """Store a number after checking it lies in the class's range."""

    kind: type = float
    low: float | None = None  # the smallest value allowed (None: no floor)
    low_open: bool = False  # True: `low` itself is not allowed
    high: float | None = None  # the largest value allowed (None: no ceiling)
    extra: tuple[float, ...] = ()  # values allowed outside the range (e.g. 0 = off)
    what = ""  # the range, as the error says it

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        kwargs["type"] = self.kind
        super().__init__(option_strings, dest, **kwargs)

    @classmethod
    def problem(cls, value: Any) -> str | None:
        if value is None or value in cls.extra:
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number, got {value}"
        below = cls.low is not None and (value <= cls.low if cls.low_open else value < cls.low)
        above = cls.high is not None and value > cls.high
        return f"must be {cls.what}, got {value}" if below or above else None

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        problem = self.problem(values)
        if problem:
            raise argparse.ArgumentError(self, problem)
        setattr(namespace, self.dest, values)


class PositiveInt(Ranged):
    kind, low, what = int, 1, "at least 1"


class NonNegativeInt(Ranged):
    kind, low, what = int, 0, "0 or more"


class FoldCount(Ranged):
    kind, low, extra, what = int, 2, (0,), "0 (off) or at least 2"


class PositiveFloat(Ranged):
    kind, low, low_open, what = float, 0.0, True, "above 0"


class NonNegativeFloat(Ranged):
    kind, low, what = float, 0.0, "0 or more"


class UnitInterval(Ranged):
    kind, low, high, what = float, 0.0, 1.0, "between 0 and 1"


def restrict(p: argparse.ArgumentParser, ranges: dict[str, type[Ranged]]) -> None:
    """Give options another module added (e.g. the engine's) a range: flag -> Ranged class."""
    for action in p._actions:
        for flag in action.option_strings:
            if flag in ranges:
                action.__class__ = ranges[flag]
                action.type = ranges[flag].kind


def check_ranges(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The range of every option whose value did not pass through its action (a value from
    a `run --config` file, which argparse takes as a default): the same one-line error."""
    for action in p._actions:
        if isinstance(action, Ranged):
            problem = action.problem(getattr(args, action.dest, None))
            if problem:
                p.error(str(argparse.ArgumentError(action, problem)))




def _lr_schedulers() -> Sequence[str]:
    """--lr-scheduler's names: one list, which training/config.py also checks in a config file
    or --finetune-set (imported here, when a command checks its flags, not at start-up)."""
    from clearft.training.config import LR_SCHEDULERS

    return LR_SCHEDULERS


def _backend_choices() -> list[str]:
    from clearft.backends.registry import user_backends

    return user_backends()


def _metric_choices() -> list[str]:
    from clearft.evaluation.metrics import METRICS

    return ["auto", *METRICS]


# flag -> its allowed values (computed when checked, so the registries load only then)
CHOICE_FLAGS: dict[str, Callable[[], Sequence[str]]] = {
    "--backend": _backend_choices,
    "--candidate-backend": _backend_choices,
    "--eval-backend": _backend_choices,
    "--metric": _metric_choices,
    "--lr-scheduler": _lr_schedulers,
}


def check_choices(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Backend, metric and scheduler names, from the command line or a `run --config` file:
    a one-line error naming the flag (exit 2) before anything runs, not a failure mid-run."""
    for action in p._actions:
        for flag in action.option_strings:
            if flag not in CHOICE_FLAGS:
                continue
            value = getattr(args, action.dest, None)
            if value is None:
                continue
            allowed = CHOICE_FLAGS[flag]()
            if value not in allowed:
                p.error(f"argument {flag}: invalid choice: {value!r} (choose from {', '.join(allowed)})")


# --- options several commands share: one definition, one meaning -----------------------
SEED_HELP = "random seed of every sampled call and of fine-tuning (0): same seed and data, same output"
NO_PROGRESS_HELP = "no progress bars or progress messages"
# Rows per batched backend call, the same default in score, correct and run (results do not
# depend on it: tests/test_engine_local.py, tests/test_correct_judge.py).
ROWS_PER_CALL = 16
ROWS_PER_CALL_HELP = f"rows per batched backend call (default {ROWS_PER_CALL}; results do not depend on it)"
CACHE_HELP = "SQLite file caching every model call (default: .clearft-cache/calls.sqlite); 'off' disables"
CONCURRENCY_HELP = ("llama.cpp slots: a call's k samples decode side by side, one slot each (llamacpp; its calls go "
                    "one at a time unless CLEARFT_LLAMA_PROMPT_REUSE=0), or concurrent requests to start with (openai)")
BASE_URL_HELP = "OpenAI-compatible server URL, e.g. http://127.0.0.1:8080/v1 (default: the OpenAI API)"
API_KEY_ENV_HELP = ("openai backend: name of the environment variable holding the API key "
                    "(default OPENAI_API_KEY); the key itself is never accepted on the command line")
FILE_TYPE_HELP = ("jsonl, json, csv, parquet or hf (a datasets save_to_disk folder) of the input; "
                  "default: from the path")
MAX_TOKENS_HELP = ("the most tokens per generated answer (default: score and run: the preset's; eval: from the "
                   "longest target; generate: 256)")
PROMPT_COL_HELP = "column holding the prompt (default: detected)"
RESPONSE_COL_HELP = "column holding the target response (default: detected)"


def add_seed_arg(p: argparse.ArgumentParser | Any, default: int | None = 0) -> None:
    p.add_argument("--seed", action=NonNegativeInt, default=default, help=SEED_HELP)


def add_rows_per_call_arg(p: argparse.ArgumentParser | Any) -> None:
    """--batch-size: rows per model call (a training batch is --train-batch-size)."""
    p.add_argument("--batch-size", action=PositiveInt, default=ROWS_PER_CALL, help=ROWS_PER_CALL_HELP)


def add_hidden_alias(p: argparse.ArgumentParser | Any, flag: str, dest: str, **kwargs: Any) -> None:
    """An option's old name: still accepted (scripts keep working), not shown in --help."""
    p.add_argument(flag, dest=dest, help=argparse.SUPPRESS, **kwargs)


def add_no_progress_arg(p: argparse.ArgumentParser | Any) -> None:
    p.add_argument("--no-progress", action="store_true", help=NO_PROGRESS_HELP)


def add_openai_url_args(p: argparse.ArgumentParser | Any) -> None:
    p.add_argument("--base-url", default=None, help=BASE_URL_HELP)
    p.add_argument("--api-key-env", default=None, help=API_KEY_ENV_HELP)


def add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("input data")
    g.add_argument("--format", dest="data_format", default=None,
                   help="record format (auto-detected by default): prompt-response, prompt-completion, "
                        "question-answer, multiple-choice, alpaca, messages, sharegpt, columns")
    g.add_argument("--file-type", default=None, help=FILE_TYPE_HELP)
    g.add_argument("--prompt-col", default=None, help=PROMPT_COL_HELP)
    g.add_argument("--response-col", default=None, help=RESPONSE_COL_HELP)
    g.add_argument("--id-col", default=None, help="column holding a stable id (default: 'id' if present, else a content hash)")
    g.add_argument("--on-error", choices=["raise", "skip"], default="raise",
                   help="bad records: stop with an error naming file, line and field (default), or skip "
                        "them into a side file with the reason")


def add_backend_args(p: argparse.ArgumentParser, title: str = "model backend") -> None:
    """--backend, --model and their options: the model being curated, in every command."""
    g = p.add_argument_group(title)
    g.add_argument("--backend", default="llamacpp",
                   help="llamacpp (default, embedded model), transformers, openai; see `clearft backends`")
    g.add_argument("--model", default=None,
                   help="GGUF file (llamacpp), model folder (transformers) or model name (openai); "
                        "default: the embedded SmolLM2-135M-Instruct")
    add_openai_url_args(g)
    g.add_argument("--concurrency", action=PositiveInt, default=None, help=CONCURRENCY_HELP)
    g.add_argument("--max-concurrency", action=PositiveInt, default=None,
                   help="openai backend: the most requests in flight the adaptive limit may grow to (256); "
                        "set it to a local server's slot count")
    g.add_argument("--server-kind", choices=["auto", "llamacpp", "vllm", "openai"], default=None,
                   help="openai backend: how the server takes a prefilled answer (auto: ask it once); "
                        "vllm: continue_final_message; openai: no prefill")
    g.add_argument("--group-samples", action=argparse.BooleanOptionalAction, default=None,
                   help="openai backend: the k samples as one request with n (default: where the server honours n)")
    g.add_argument("--fast-unreproducible", action="store_true",
                   help="llamacpp: keep llama.cpp's own batching settings (more parallel throughput; "
                        "samples then depend on what runs beside them)")
    g.add_argument("--cache", default=None, help=CACHE_HELP)


def backend_options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if getattr(args, "model", None):
        opts["model"] = args.model
    if getattr(args, "base_url", None):
        opts["base_url"] = args.base_url
    if getattr(args, "api_key_env", None):
        opts["api_key_env"] = args.api_key_env
    if getattr(args, "concurrency", None):
        opts["concurrency"] = args.concurrency
    for flag, key in (("--max-concurrency", "max_concurrency"), ("--server-kind", "server_kind"),
                      ("--group-samples", "group_samples")):
        value = getattr(args, key, None)
        if value is None:
            continue
        if getattr(args, "backend", "llamacpp") != "openai":
            from clearft.errors import ClearftError

            raise ClearftError(f"{flag} applies to the openai backend only")
        if key == "max_concurrency" and value < 1:
            from clearft.errors import ClearftError

            raise ClearftError(f"--max-concurrency must be at least 1, got {value}")
        opts[key] = value
    if getattr(args, "fast_unreproducible", False):
        if getattr(args, "backend", "llamacpp") != "llamacpp":
            from clearft.errors import ClearftError

            raise ClearftError("--fast-unreproducible applies to the llamacpp backend only")
        opts["reproducible"] = False
    return opts


def key_json_settings(items: list[str], flag: str) -> dict[str, Any]:
    """`--finetune-set`-style KEY=JSON overrides as a dict: the value as JSON when it parses
    (numbers, true, lists), else the text itself; a one-line error naming `flag` otherwise."""
    import json

    from clearft.errors import ClearftError

    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ClearftError(f"{flag} wants KEY=VALUE, got {item!r}")
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    return values


def data_options(args: argparse.Namespace) -> DataOptions:
    """How the command reads its data: the data flags it has (add_data_args, or only
    --prompt-col/--response-col), unset ones left to detection."""
    from clearft.data.options import DataOptions

    return DataOptions(format=getattr(args, "data_format", None), file_type=getattr(args, "file_type", None),
                       prompt_col=getattr(args, "prompt_col", None),
                       response_col=getattr(args, "response_col", None), id_col=getattr(args, "id_col", None),
                       on_error=getattr(args, "on_error", "raise"))


ENGINE_RANGES: dict[str, type[Ranged]] = {
    "--replicas": PositiveInt, "--cpus-per-replica": NonNegativeFloat, "--gpus-per-replica": NonNegativeFloat,
}


def add_engine_args(p: argparse.ArgumentParser) -> None:
    """The engine options (clearft.engines.options), with their ranges checked at parse time."""
    from clearft.engines.options import add_engine_args as add

    add(p)
    restrict(p, ENGINE_RANGES)
