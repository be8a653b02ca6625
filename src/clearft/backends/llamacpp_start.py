"""Starting llama.cpp's server in-process (the `xllamacpp` package) for the llamacpp backend:
how many threads, and which server settings keep scores independent of the batch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from clearft.deps import require
from clearft.errors import BackendError


def default_threads(cores: int | None = None, load: float | None = None) -> int:
    """CLEARFT_LLAMA_THREADS, else every core -- or half of them when the machine is busy.

    ggml's threads wait for each other at every layer; when a thread gets descheduled, the
    others stall. Measured on a 2-core machine: quiet, 2 threads decode about twice as fast
    as 1 (97 vs ~50 tokens/s, one sequence); under a load average of ~20, 2 threads gave
    0.3-1.2 tokens/s and 1 thread 9-10.5. So the 1-minute load average at start decides:
    above half the cores, use half of them.
    """
    env = os.environ.get("CLEARFT_LLAMA_THREADS")
    if env:
        return max(1, int(env))
    cores = cores or os.cpu_count() or 2
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # not available on this platform
            load = 0.0
    return max(1, cores // 2) if load > cores / 2 else cores


# What `reproducible` changes in llama.cpp's server settings, and why each one. Measured
# (bench/results/scoring.md, session 9) with bench/llamacpp_repro_probe.py (BSDetector's requests
# for 8 FPB rows, 8 slots, each alone vs all together) and bench/llamacpp_parity.py.
REPRODUCIBLE_SETTINGS: dict[str, Any] = {
    # One KV buffer per slot, not one shared by all: attention then reads only the slot's own
    # cells, so a seeded sample decodes to the same text whatever runs beside it and whatever
    # ran before it. Measured: with the shared buffer, 0 of 12 seeded samples repeated between
    # a sequential and a parallel pass (or even two sequential passes); per slot, 12 of 12.
    # Also llama.cpp's own default in this build, so it costs nothing against llama.cpp.
    "kv_unified": False,
    # No flash attention: on CPU it sums differently when several sequences are evaluated in
    # one batch. Measured with it on: 7 of 32 reflection results bit-identical to the same
    # prompt sent alone (32 of 32 with it off), letter log-probabilities moved by up to 0.17
    # nats (renormalised P(letter) by up to 0.049), and the slow test
    # test_scores_do_not_change_with_batch_size_or_concurrency failed (other sample texts at 8
    # slots than at 1). It costs llama.cpp 7% of its 1-sequence decode, 14% at 16 sequences
    # and 6% of its prompt rate (session 9, mean of 2 rows of one run; another run: 12% / 0% / 8%): the
    # price of scores that do not depend on batch size or concurrency.
    "flash_attn_type": 0,
    # Continuous batching stays on (llama.cpp's default). It was off until session 9; switched
    # on, the probe's results were still 32 of 32 bit-identical to alone and the slow tests
    # passed, while off it cost 3% / 9% / 1% (1 seq / 16 seq / prompt; one earlier run: none)
    # and made every new prompt wait for the running decode wave. Scores with it on: FPB-30
    # (40 rows, BSDetector medium) AUROC 0.455 as with it off, confidences within 0.0024.
}


# Tokens a micro-batch holds (llama.cpp's default n_ubatch, set explicitly so that
# PromptReuseGuard knows where a prompt's evaluation splits).
UBATCH = 512


def start_server(
    model_path: str | Path,
    parallel: int,
    context: int,
    threads: int | None = None,
    port: int = 0,
    host: str = "127.0.0.1",
    verbose: bool = False,
    reproducible: bool = True,
    hidden_states: bool = False,
    ram_prompt_cache: bool = True,
) -> Any:
    """Start an in-process llama.cpp server (also listening on host:port; 0 = any free port).

    `reproducible` trades some parallel throughput for samples that do not depend on what
    the other slots are doing (``REPRODUCIBLE_SETTINGS``); False keeps llama.cpp's own
    defaults. `hidden_states`: ``/embedding`` returns every position's final hidden state
    (pooling none), for a whole slot's context in one batch. `ram_prompt_cache` False turns off
    the server's store of older prompt states (a slot could otherwise be restored to a state
    PromptReuseGuard no longer knows)."""
    xllamacpp = require("xllamacpp", "the llamacpp backend")
    params = xllamacpp.CommonParams()
    params.model.path = str(model_path)
    params.n_parallel = parallel
    params.n_ctx = context * parallel  # llama.cpp splits n_ctx evenly between slots
    n_threads = threads or default_threads()
    params.cpuparams.n_threads = n_threads
    params.cpuparams_batch.n_threads = n_threads
    params.warmup = False
    params.n_ubatch = UBATCH
    if not ram_prompt_cache:
        params.cache_ram_mib = 0
    if reproducible:
        for name, value in REPRODUCIBLE_SETTINGS.items():
            setattr(params, name, value)
    if hidden_states:
        params.embedding = True
        params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_NONE
        params.n_batch = params.n_ubatch = context  # llama.cpp embeds a request in one batch
    params.hostnames = [host]
    params.port = port
    # llama.cpp logs every slot event at info level; -1 keeps it to nothing unless asked.
    params.verbosity = 3 if verbose else -1
    try:
        return xllamacpp.Server(params)
    except Exception as exc:  # the C++ side raises plain RuntimeError on a bad file
        raise BackendError(f"llama.cpp could not load {model_path}: {exc}") from exc
