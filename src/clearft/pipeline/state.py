"""RUN_DIR/state.json: which stages of a run have finished, written atomically after each.

A stage counts as done only when state.json says so *and* its outputs exist; a run killed
in the middle of a stage redoes that stage (its model calls come back from the call cache,
the scorer's journal and the trainer's DONE marker, so little is lost).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clearft.errors import ClearftError

STATE_FILE = "state.json"


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON so that a kill leaves either the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True, ensure_ascii=False, default=str)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunState:
    def __init__(self, run_dir: str | Path, settings: dict[str, Any],
                 normalise: Callable[[dict[str, Any]], dict[str, Any]] = lambda d: d) -> None:
        """`normalise`: applied to the settings a run recorded before comparing, so a run
        recorded by an older clearft (with a setting since found to change no output) resumes."""
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / STATE_FILE
        self.settings = json.loads(json.dumps(settings, sort_keys=True, default=str))
        if self.path.exists():
            self.data = json.loads(self.path.read_text(encoding="utf-8"))
            if "settings" in self.data:
                self.data["settings"] = normalise(self.data["settings"])
            if self.data.get("settings") != self.settings:
                changed = sorted(
                    k for k in set(self.settings) | set(self.data.get("settings", {}))
                    if self.settings.get(k) != self.data.get("settings", {}).get(k)
                )
                raise ClearftError(
                    f"{self.run_dir} holds a run started with other settings "
                    f"(changed: {', '.join(changed)}); rerun with the same options to resume, "
                    "or choose a new run directory"
                )
        else:
            self.data = {"settings": self.settings, "stages": {}, "order": []}

    def is_done(self, stage: str, outputs: list[Path]) -> bool:
        return stage in self.data["stages"] and all(p.exists() for p in outputs)

    def info(self, stage: str) -> dict[str, Any]:
        info: dict[str, Any] = self.data["stages"][stage]
        return info

    def mark_done(self, stage: str, info: dict[str, Any]) -> None:
        self.data["stages"][stage] = json.loads(json.dumps(info, sort_keys=True, default=str))
        if stage not in self.data["order"]:
            self.data["order"].append(stage)
        write_json_atomic(self.path, self.data)

    @property
    def stages(self) -> dict[str, Any]:
        stages: dict[str, Any] = self.data["stages"]
        return stages
