"""Run configs: `clearft run --config run.yaml` (YAML or TOML, by suffix).

A config file holds any of the command's options: its keys are the long flag names, with
dashes or underscores (`train-batch-size: 16`, `train_batch_size = 16`), plus `input` (the
positional argument); `finetune-set` also takes a table ({lora_dropout: 0.1}). Precedence:
the command line, then the file, then the defaults. The file is read when the command's
arguments are parsed: its values are checked against the options (an unknown key or a
value of the wrong type is a one-line error naming the file and key, exit code 2) and
become the parser's defaults, so the final parse lets any flag override them.

`--print-config` prints the effective config as YAML (a file `--config` accepts) and
exits; `clearft run` saves the same YAML in RUN_DIR as config.yaml.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clearft.errors import ClearftError

NOT_IN_FILES = ("help", "config", "print-config")
CONFIG_NAME = "config.yaml"


class ConfigError(ClearftError):
    """A config file that cannot be used: unreadable, an unknown key, a mistyped value."""


def enable_config_file(p: argparse.ArgumentParser) -> None:
    """Give a (sub)command parser --config and --print-config. Call it after the command's
    own options are added: it records their names for the effective config."""
    g = p.add_argument_group("run config")
    g.add_argument("--config", default=None, metavar="FILE",
                   help="YAML or TOML file (by suffix) of this command's options, keyed by their long "
                        "names (dashes or underscores; 'input' for the data); flags given here override it")
    g.add_argument("--print-config", action="store_true",
                   help="print the effective config (flags > --config file > defaults) as YAML, then stop")
    p.set_defaults(config_keys=tuple(option_keys(p).items()))
    # argparse gives a subcommand's parser its arguments through parse_known_args: reading
    # the file there, before the real parse, is what lets the command line win.
    p.__class__ = ConfigFileParser


class ConfigFileParser(argparse.ArgumentParser):
    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        argv = list(sys.argv[1:] if args is None else args)
        pre = argparse.ArgumentParser(prog=self.prog, add_help=False)
        pre.add_argument("--config", default=None)
        pre.add_argument("--print-config", action="store_true")
        early, _ = pre.parse_known_args(argv)
        given: dict[str, Any] = {}
        if early.config:
            try:
                given = checked_values(self, read_config(Path(early.config)), early.config)
            except ConfigError as exc:
                self.exit(2, f"{self.prog}: error: {exc}\n")
        for action in self._actions:
            if action.dest in given or early.print_config:  # (--print-config: show what is set)
                action.required = False
                if not action.option_strings and action.nargs is None:
                    action.nargs = "?"  # a positional the file provides
        self.set_defaults(**given)
        return super().parse_known_args(argv, namespace)


def option_keys(p: argparse.ArgumentParser) -> dict[str, str]:
    """Config key (the long flag without dashes; a positional's name) -> argparse dest."""
    keys: dict[str, str] = {}
    for action in p._actions:
        longs = [s for s in action.option_strings if s.startswith("--")]
        key = longs[0][2:] if longs else (action.dest if not action.option_strings else None)
        if key and key not in NOT_IN_FILES and action.dest != argparse.SUPPRESS:
            keys[key] = action.dest
    return keys


def read_config(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise ConfigError(f"{path}: a config file is .yaml, .yml or .toml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if suffix == ".toml":
        data = _parse_toml(path, text)
    else:
        yaml = _yaml()
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the file must hold a mapping of option names to values")
    return data


def _parse_toml(path: Path, text: str) -> dict[str, Any]:
    import importlib

    toml: Any = None
    for name in ("tomllib", "tomli"):  # tomli: the same parser, for Python 3.10
        try:
            toml = importlib.import_module(name)
            break
        except ImportError:
            continue
    if toml is None:
        raise ConfigError(f"{path}: reading TOML on Python 3.10 needs tomli: pip install tomli")
    try:
        data: dict[str, Any] = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return data


def _yaml() -> Any:
    try:
        import yaml
    except ImportError:
        raise ConfigError("YAML configs need PyYAML: pip install pyyaml") from None
    return yaml


def checked_values(p: argparse.ArgumentParser, data: dict[str, Any], path: str) -> dict[str, Any]:
    """argparse dest -> value for every key of a config file, each checked like its flag."""
    keys = option_keys(p)
    actions = {a.dest: a for a in p._actions}
    values: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key).replace("_", "-")
        if key in NOT_IN_FILES:
            raise ConfigError(f"{path}: '{raw_key}' cannot be set in a config file")
        if key not in keys:
            close = difflib.get_close_matches(key, list(keys), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{path}: unknown key '{raw_key}': not an option of {p.prog}{hint}")
        action = actions[keys[key]]
        if value is None and (action.required or not action.option_strings):
            continue  # "not set" (as --print-config shows it): the command line must give it
        try:
            values[keys[key]] = _checked(action, value)
        except ValueError as exc:
            raise ConfigError(f"{path}: key '{raw_key}': {exc}") from None
    return values


def _describe(value: Any) -> str:
    names = {bool: "a boolean", int: "a whole number", float: "a number", str: "text",
             list: "a list", dict: "a table"}
    return f"{names.get(type(value), type(value).__name__)} ({json.dumps(value, default=str)[:40]})"


def _checked(action: argparse.Action, value: Any) -> Any:
    if value is None:
        if action.default is None:
            return None
        raise ValueError("needs a value (null is not one here)")
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {_describe(value)}")
        return value
    if isinstance(action, argparse._AppendAction):  # e.g. finetune-set: KEY=JSON items
        if isinstance(value, dict):
            return [f"{k}={json.dumps(v)}" for k, v in value.items()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"expected a list of KEY=VALUE texts or a table, got {_describe(value)}")
        return list(value)
    kind = action.type
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {_describe(value)}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {_describe(value)}")
        value = float(value)
    elif kind is None or kind is str:
        if not isinstance(value, str):
            quote = " (YAML reads yes/no/on/off as booleans: quote it)" if isinstance(value, bool) else ""
            raise ValueError(f"expected text, got {_describe(value)}{quote}")
    elif callable(kind):
        try:
            value = kind(str(value))  # type: ignore[operator]
        except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
            raise ValueError(f"{_describe(value)} is not valid: {exc}") from None
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"{value!r} is not one of {', '.join(map(str, action.choices))}")
    return value


def effective_config(args: argparse.Namespace) -> dict[str, Any]:
    """What the command runs with, keyed as a config file is (every option, defaults too)."""
    return {key: getattr(args, dest, None) for key, dest in args.config_keys}


def config_yaml(args: argparse.Namespace) -> str:
    header = (f"# clearft {getattr(args, 'command', 'run')}: the effective config (flags > --config file > defaults)"
              + (f"; file: {args.config}" if args.config else "") + "\n")
    return header + _yaml().safe_dump(effective_config(args), sort_keys=False, allow_unicode=True)


def save_config(args: argparse.Namespace, folder: str | Path) -> Path:
    """Write the effective config to FOLDER/config.yaml (atomically)."""
    path = Path(folder) / CONFIG_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(config_yaml(args), encoding="utf-8")
    os.replace(tmp, path)
    return path
