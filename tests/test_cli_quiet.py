"""The CLI keeps third-party progress bars and advisory warnings off the console unless -v."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import os, sys, warnings
from clearft.cli.main import main
main(sys.argv[1:])
from clearft.deps import require
transformers = require("transformers")
print(os.environ.get("HF_DATASETS_DISABLE_PROGRESS_BARS"),
      transformers.utils.logging.is_progress_bar_enabled())
warnings.warn("advisory", FutureWarning)
"""


def probe(*argv: str) -> subprocess.CompletedProcess[str]:
    # Every variable quiet_third_party sets: a test before this one that ran main() in-process
    # left them in os.environ, and the probe would inherit a silenced console.
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in {"HF_DATASETS_DISABLE_PROGRESS_BARS", "HF_HUB_DISABLE_PROGRESS_BARS",
                        "TRANSFORMERS_VERBOSITY", "TRANSFORMERS_NO_ADVISORY_WARNINGS"}}
    return subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, env=env, check=True)


def test_commands_silence_library_bars_and_warnings() -> None:
    out = probe("version")
    assert out.stdout.strip().splitlines()[-1] == "1 False"
    assert "FutureWarning" not in out.stderr


def test_verbose_leaves_libraries_alone() -> None:
    out = probe("-v", "version")
    assert out.stdout.strip().splitlines()[-1] == "None True"
    assert "FutureWarning: advisory" in out.stderr
