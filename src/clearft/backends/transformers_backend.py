"""Any local Hugging Face causal LM folder, or a GGUF file (transformers de-quantizes it),
run with torch. CPU by default, CUDA when available. Never runs remote code, never
downloads (local files only).

* Greedy requests (temperature 0) are decoded in left-padded batches, and their n samples
  are one decode copied n times (greedy samples are identical by definition).
* The tokens every prompt of a batch begins with (the chat template, an instruction the rows
  share) run once, and every row reads their keys and values as a cache
  (backends/prefix_cache.py); the padding then sits between that prefix and each row's own
  tokens, and positions follow the attention mask, so each row decodes as it would alone.
* Sampled requests are decoded in left-padded batches too, one row per (request, sample i).
  Row i draws its tokens by inverse CDF from its own stream of uniforms, seeded with
  ``seed + i`` (``SeededSampler``), so sample i is reproducible and independent of n and of
  the rows around it, as when each sample was decoded alone — which ran the GPU at batch 1
  (30 generated tokens/s on an H200 against 740 for plain batched ``generate``).
* Log-likelihood is exact: the continuation tokens' log-probabilities summed. Requests that
  share a prompt (one row scored against every label of a dataset) evaluate that prompt once
  and score all their continuations from its cached keys and values in one batch; the others
  take one forward pass over prompt + continuation, in right-padded batches.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clearft.backends.base import (
    Backend,
    Capabilities,
    Completion,
    GenerateRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Message,
)
from clearft.backends.prefix_cache import generate_sharing_prefix
from clearft.backends.seeded_sampler import seeded_sampler
from clearft.deps import require
from clearft.errors import ClearftError
from clearft.models import file_identity


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """Text up to (not including) the earliest stop string, as OpenAI-style servers return."""
    cut = len(text)
    for s in stop:
        if s:
            at = text.find(s)
            if at != -1:
                cut = min(cut, at)
    return text[:cut]


def plain_prompt(messages: Sequence[Message]) -> str:
    """A prompt for models without a chat template: role-labelled turns, then 'assistant:'."""
    turns = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n\n".join(turns) + "\n\nassistant:"


def shared_prompt_groups(prompts: Sequence[str], min_size: int = 2) -> dict[str, list[int]]:
    """Indices grouped by prompt, keeping only prompts shared by at least min_size requests."""
    by_prompt: dict[str, list[int]] = {}
    for i, prompt in enumerate(prompts):
        by_prompt.setdefault(prompt, []).append(i)
    return {p: idx for p, idx in by_prompt.items() if len(idx) >= min_size}


def _folder_identity(folder: Path) -> str:
    h = hashlib.sha256()
    for name in ("config.json", "generation_config.json", "tokenizer_config.json"):
        f = folder / name
        if f.is_file():
            h.update(f.read_bytes())
    # The weights' content, not only their names and sizes: every fine-tune of one base model
    # has the same names and sizes, and the call cache keys answers by this identity.
    for f in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        h.update(f"{f.name}:{file_identity(f)}".encode())
    return h.hexdigest()[:16]


# Rows decoded together when the caller does not say (--concurrency). On a CPU, memory is
# rarely the limit and a decode step costs little more for 32 rows than for 8: evaluating the
# main job's 120 test rows took 23 s at 8 and 13 s at 32 with a fine-tuned model, 56 s and 27 s
# untuned (bench/eval_speed.py; bench/results/training.md, session 17). On a GPU the keys and
# values of a large model's long prompts are what fills memory, so the default stays small there.
CPU_BATCH_SIZE = 32
GPU_BATCH_SIZE = 8
# Log-likelihood batches hold every position's logits over the vocabulary (and their
# log-softmax), so they stay at 8 rows unless --concurrency says otherwise.
LOGLIKELIHOOD_BATCH_SIZE = 8

class TransformersBackend(Backend):
    name = "transformers"

    def __init__(
        self,
        model: str | Path | None = None,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int | None = None,
        concurrency: int | None = None,  # accepted for CLI symmetry: the batch size here
    ) -> None:
        from clearft.models import default_gguf_path, file_identity

        torch = require("torch", "the transformers backend")
        transformers = require("transformers", "the transformers backend")
        path = Path(model) if model else default_gguf_path()
        if not path.exists():
            raise ClearftError(f"no model folder or GGUF file at {path}")
        load: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False}
        if path.is_file():  # a GGUF: transformers reads it from its folder by file name
            require("gguf", "loading a GGUF file with transformers")
            folder, load["gguf_file"] = path.parent, path.name
            self._model_id = f"gguf:{path.name}:{file_identity(path)}"
        else:
            folder = path
            self._model_id = f"hf:{path.name}:{_folder_identity(path)}"
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = getattr(torch, dtype) if dtype else (
            torch.float32 if self.device == "cpu" else torch.bfloat16
        )
        default_batch = CPU_BATCH_SIZE if self.device == "cpu" else GPU_BATCH_SIZE
        self.batch_size = max(1, int(concurrency or batch_size or default_batch))
        self.loglikelihood_batch = max(1, int(concurrency or batch_size or LOGLIKELIHOOD_BATCH_SIZE))
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), **load)
        self.model = transformers.AutoModelForCausalLM.from_pretrained(
            str(folder), dtype=torch_dtype, **load
        ).to(self.device)
        self.model.eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._has_template = bool(getattr(self.tokenizer, "chat_template", None))
        self._max_context = int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            loglikelihood=True,
            top_logprobs=True,
            chat_template=self._has_template,
            seeded_sampling=True,
            max_context=self._max_context,
        )

    @property
    def model_id(self) -> str:
        return self._model_id

    def close(self) -> None:
        self.model = None
        self.tokenizer = None

    # -- prompts ----------------------------------------------------------------------

    def render_chat(self, messages: list[Message], assistant_prefix: str = "") -> str:
        if self._has_template:
            text = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        else:
            text = plain_prompt(messages)
        return str(text) + assistant_prefix

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # -- generate -----------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Completion]:
        out: list[Completion | None] = [None] * len(requests)
        greedy = [r for r, req in enumerate(requests) if req.temperature <= 0]
        for start in range(0, len(greedy), self.batch_size):
            idx = greedy[start : start + self.batch_size]
            try:
                for r, comp in zip(idx, self._greedy_batch([requests[r] for r in idx]), strict=True):
                    out[r] = comp
            except Exception as exc:  # fall back to one at a time so one bad row stays alone
                for r in idx:
                    out[r] = self._guarded(lambda rr=r: self._greedy_batch([requests[rr]])[0])
                del exc
        sampled = [r for r in range(len(requests)) if out[r] is None]
        for r, comp in zip(sampled, self._sampled([requests[r] for r in sampled]), strict=True):
            out[r] = comp
        return [c for c in out if c is not None]

    @staticmethod
    def _guarded(fn: Any) -> Completion:
        try:
            result: Completion = fn()
            return result
        except Exception as exc:
            return Completion(texts=[], error=f"{type(exc).__name__}: {exc}")

    def _decode(self, prompts: list[str], req: GenerateRequest, seeds: list[int] | None = None
                ) -> tuple[list[str], list[dict[str, float]], list[int], list[int]]:
        """Decode prompts together (a shared prefix run once, then padding, then each row's own
        tokens); texts, first-token top logprobs, token counts.
        Greedy without `seeds`; with them, prompt j is sampled from the stream seeded seeds[j]."""
        torch = require("torch")
        tok = self.tokenizer
        encoded = [self._ids(p) for p in prompts]
        pad = tok.pad_token_id
        width = max(len(e) for e in encoded)
        gen_args: dict[str, Any] = {
            "max_new_tokens": req.max_tokens,
            "do_sample": False,  # sampling, when asked, is SeededSampler's; generate keeps its pick
            "pad_token_id": pad,
            "return_dict_in_generate": True,
            "output_logits": bool(req.top_logprobs),  # raw logits, before SeededSampler
        }
        if seeds is not None:
            transformers = require("transformers")
            sampler = seeded_sampler(seeds, req.max_tokens, req.temperature, width, self.device)
            gen_args["logits_processor"] = transformers.LogitsProcessorList([sampler])
        if req.stop:
            gen_args.update(stop_strings=list(req.stop), tokenizer=tok)
        with torch.no_grad():
            result = generate_sharing_prefix(self.model, encoded, pad, gen_args, self.device)
        new = result.sequences[:, width:]
        texts, counts = [], []
        ends = self._end_ids()
        for row in new.tolist():
            # A row ends at its first end-of-turn token; what follows is padding.
            cut = next((k for k, t in enumerate(row) if t in ends), None)
            ids = row if cut is None else row[:cut]
            counts.append(len(row) if cut is None else cut + 1)
            texts.append(cut_at_stop(tok.decode(ids, skip_special_tokens=True), req.stop))
        tops: list[dict[str, float]] = [{} for _ in prompts]
        if req.top_logprobs:
            first = torch.log_softmax(result.logits[0].float(), dim=-1)
            values, indices = first.topk(req.top_logprobs, dim=-1)
            tops = [
                {tok.decode([int(i)]): float(v) for v, i in zip(vs, ix, strict=True)}
                for vs, ix in zip(values.tolist(), indices.tolist(), strict=True)
            ]
        return texts, tops, [len(e) for e in encoded], counts

    def _end_ids(self) -> set[int]:
        ends = self.model.generation_config.eos_token_id
        ids = set(ends if isinstance(ends, list) else [ends])
        ids.add(self.tokenizer.eos_token_id)
        ids.add(self.tokenizer.pad_token_id)
        return {int(i) for i in ids if i is not None}

    def _greedy_batch(self, reqs: Sequence[GenerateRequest]) -> list[Completion]:
        # Requests in one batch share decode settings; group by them.
        groups: dict[str, list[int]] = {}
        for k, req in enumerate(reqs):
            settings = f"{req.max_tokens}|{req.stop}|{req.top_logprobs}"
            groups.setdefault(settings, []).append(k)
        out: list[Completion | None] = [None] * len(reqs)
        for members in groups.values():
            first = reqs[members[0]]
            prompts = [self.render_chat(reqs[k].messages, reqs[k].assistant_prefix) for k in members]
            texts, tops, n_prompt, n_out = self._decode(prompts, first)
            for j, k in enumerate(members):
                n = reqs[k].n
                out[k] = Completion(
                    texts=[texts[j]] * n,
                    first_token_logprobs=[tops[j]] * n if reqs[k].top_logprobs else None,
                    prompt_tokens=n_prompt[j],
                    completion_tokens=n_out[j],
                )
        return [c for c in out if c is not None]

    def _sampled(self, reqs: Sequence[GenerateRequest]) -> list[Completion]:
        """Every sample of every request as one row, rows with the same decode settings batched."""
        rows = [(k, i) for k, req in enumerate(reqs) for i in range(req.n)]
        groups: dict[str, list[tuple[int, int]]] = {}
        for k, i in rows:
            req = reqs[k]
            groups.setdefault(f"{req.max_tokens}|{req.stop}|{req.top_logprobs}|{req.temperature}", []).append((k, i))
        texts: dict[tuple[int, int], str] = {}
        tops: dict[tuple[int, int], dict[str, float]] = {}
        tokens: dict[int, list[int]] = {k: [0, 0] for k in range(len(reqs))}
        failed: dict[int, str] = {}
        for members in groups.values():
            for start in range(0, len(members), self.batch_size):
                chunk = members[start : start + self.batch_size]
                try:
                    decoded = self._decode([self.render_chat(reqs[k].messages, reqs[k].assistant_prefix) for k, _ in chunk],
                                           reqs[chunk[0][0]], seeds=[reqs[k].seed + i for k, i in chunk])
                except Exception as exc:  # one bad batch fails only its own requests
                    for k, _ in chunk:
                        failed[k] = f"{type(exc).__name__}: {exc}"
                    continue
                for j, (k, i) in enumerate(chunk):
                    texts[k, i], tops[k, i] = decoded[0][j], decoded[1][j]
                    tokens[k][0] += decoded[2][j]
                    tokens[k][1] += decoded[3][j]
        out = []
        for k, req in enumerate(reqs):
            if k in failed:
                out.append(Completion(texts=[], error=failed[k]))
                continue
            out.append(Completion(
                texts=[texts[k, i] for i in range(req.n)],
                first_token_logprobs=[tops[k, i] for i in range(req.n)] if req.top_logprobs else None,
                prompt_tokens=tokens[k][0],
                completion_tokens=tokens[k][1],
            ))
        return out

    # -- loglikelihood ------------------------------------------------------------------

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        prompts = [self.render_chat(r.messages, r.assistant_prefix) for r in requests]
        out: dict[int, LoglikelihoodResult] = {}
        for prompt, idx in shared_prompt_groups(prompts, min_size=2).items():
            # On failure the group is left to the plain path below, where errors stay with their row.
            with contextlib.suppress(Exception):
                # dict() first: a group that fails part-way leaves nothing behind in `out`
                out.update(dict(zip(idx, self._shared_prompt_loglikelihood(prompt, [requests[i] for i in idx]),
                                    strict=True)))
        alone = [i for i in range(len(requests)) if i not in out]
        for start in range(0, len(alone), self.loglikelihood_batch):
            idx = alone[start : start + self.loglikelihood_batch]
            batch = [requests[i] for i in idx]
            try:
                results = self._loglikelihood_batch(batch, [prompts[i] for i in idx])
            except Exception:  # retry one by one so the error stays with its row
                results = [self._loglikelihood_one(requests[i], prompts[i]) for i in idx]
            out.update(zip(idx, results, strict=True))
        return [out[i] for i in range(len(requests))]

    def _loglikelihood_one(self, req: LoglikelihoodRequest, prompt: str) -> LoglikelihoodResult:
        try:
            return self._loglikelihood_batch([req], [prompt])[0]
        except Exception as exc:
            return LoglikelihoodResult(0.0, 0, error=f"{type(exc).__name__}: {exc}")

    def _shared_prompt_loglikelihood(self, prompt: str, reqs: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        """Every continuation of one prompt: the prompt's forward pass once, then the
        continuations in batches over copies of its cache. Same sums as the plain path (the
        tokens are split the same way: prompt ids + continuation ids)."""
        import copy

        torch = require("torch")
        prompt_ids = self._ids(prompt)
        conts = [self._ids(r.continuation) for r in reqs]
        with torch.no_grad():
            first = self.model(input_ids=torch.tensor([prompt_ids], device=self.device), use_cache=True)
        first_logprobs = torch.log_softmax(first.logits[0, -1].float(), dim=-1)
        out = [LoglikelihoodResult(0.0, 0) if not c else
               LoglikelihoodResult(float(first_logprobs[c[0]].item()), 1) for c in conts]
        longer = [i for i, c in enumerate(conts) if len(c) > 1]
        chunk = max(self.loglikelihood_batch, 32)  # continuations are short; batch more of them
        for start in range(0, len(longer), chunk):
            idx = longer[start : start + chunk]
            # The last token of a continuation predicts nothing we need: feed all but it.
            feeds = [conts[i][:-1] for i in idx]
            width = max(len(f) for f in feeds)
            pad = self.tokenizer.pad_token_id
            ids = torch.tensor([f + [pad] * (width - len(f)) for f in feeds], device=self.device)
            mask = torch.tensor([[1] * (len(prompt_ids) + len(f)) + [0] * (width - len(f)) for f in feeds],
                                device=self.device)
            cache = copy.deepcopy(first.past_key_values)
            cache.batch_repeat_interleave(len(idx))
            with torch.no_grad():
                logits = self.model(input_ids=ids, attention_mask=mask, past_key_values=cache, use_cache=True).logits
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            for b, i in enumerate(idx):
                c = conts[i]
                rest = logprobs[b, torch.arange(len(c) - 1, device=self.device), torch.tensor(c[1:], device=self.device)]
                out[i] = LoglikelihoodResult(out[i].logprob + float(rest.sum().item()), len(c))
        return out

    def _loglikelihood_batch(
        self, reqs: Sequence[LoglikelihoodRequest], prompts: Sequence[str] | None = None
    ) -> list[LoglikelihoodResult]:
        """One forward pass over prompt + continuation for each request, right-padded.
        `prompts`: the requests' rendered prompts, when the caller has them already."""
        torch = require("torch")
        if prompts is None:
            prompts = [self.render_chat(r.messages, r.assistant_prefix) for r in reqs]
        pairs = [(self._ids(p), self._ids(r.continuation)) for p, r in zip(prompts, reqs, strict=True)]
        rows = [p + c for p, c in pairs]
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=self.device)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=self.device)
        with torch.no_grad():
            logprobs = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        out = []
        for b, (p, c) in enumerate(pairs):
            if not c:
                out.append(LoglikelihoodResult(0.0, 0))
                continue
            # The token at position t is predicted by the logits at t - 1.
            positions = torch.arange(len(p) - 1, len(p) + len(c) - 1, device=self.device)
            targets = torch.tensor(c, device=self.device)
            total = logprobs[b, positions, targets].sum().item()
            out.append(LoglikelihoodResult(logprob=float(total), n_tokens=len(c)))
        return out

