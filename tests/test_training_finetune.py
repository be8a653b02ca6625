"""Built-in LoRA fine-tuning: determinism, resume, refusal to reuse a different model, config.

Unit tests train a tiny random Llama (2 layers, the default model's tokenizer) for a couple of
steps; the slow test fine-tunes the real default model on 24 FPB rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clearft.data.example import Example
from clearft.errors import ClearftError
from clearft.training import FinetuneConfig, ensure_base_model, finetune, is_finished
from clearft.training.sft import example_to_row, rows_fingerprint

pytest.importorskip("trl")
pytest.importorskip("peft")


def rows(n: int) -> list[Example]:
    words = ["positive", "negative", "neutral"]
    return [
        Example(id=str(i), messages=[{"role": "user", "content": f"Sentence {i}: sentiment?"}],
                response=words[i % 3])
        for i in range(n)
    ]


def tiny_config(**overrides: object) -> FinetuneConfig:
    values = dict(max_steps=2, batch_size=4, grad_accum=1, lora_r=4, lora_alpha=8,
                  max_seq_len=128, progress=False, device="cpu")
    values.update(overrides)
    return FinetuneConfig(**values)  # type: ignore[arg-type]


def adapter_tensors(model_dir: Path) -> dict[str, object]:
    from safetensors.torch import load_file

    return load_file(str(model_dir / "adapter" / "adapter_model.safetensors"))


def test_same_seed_same_data_gives_the_same_adapter(tiny_base: Path, tmp_path: Path) -> None:
    import torch

    a = finetune(rows(8), tmp_path / "a", tiny_config(), base_model=tiny_base)
    b = finetune(rows(8), tmp_path / "b", tiny_config(), base_model=tiny_base)
    c = finetune(rows(8), tmp_path / "c", tiny_config(seed=1), base_model=tiny_base)
    ta, tb, tc = adapter_tensors(a), adapter_tensors(b), adapter_tensors(c)
    assert ta.keys() == tb.keys() and len(ta) > 0
    assert all(torch.equal(ta[k], tb[k]) for k in ta)  # type: ignore[arg-type]
    assert not all(torch.equal(ta[k], tc[k]) for k in ta)  # type: ignore[arg-type]


def test_group_by_length_batches_rows_of_similar_length(tiny_base: Path, tmp_path: Path) -> None:
    """Rows of very mixed length: grouped batches carry less padding, so the trainer sees
    fewer (padded) input tokens for the same rows; models trained without the setting keep
    their fingerprint (a finished folder from before the setting existed is still reused)."""
    mixed = [Example(id=str(i), messages=[{"role": "user", "content": "word " * (2 if i % 2 else 60)}],
                     response="yes") for i in range(48)]

    def padded_tokens(out: Path) -> float:
        log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
        return max(r["num_input_tokens_seen"] for r in log if "num_input_tokens_seen" in r)

    extra = {"extra": {"include_num_input_tokens_seen": "all"}}
    # one epoch of batches of 2: transformers groups within "megabatches" of a few batches,
    # so the data must hold several (a 16-row set would be one megabatch of one batch)
    settings = dict(max_steps=24, batch_size=2, **extra)
    plain = finetune(mixed, tmp_path / "plain", tiny_config(**settings), base_model=tiny_base)
    grouped = finetune(mixed, tmp_path / "grouped", tiny_config(group_by_length=True, **settings),
                       base_model=tiny_base)
    assert padded_tokens(grouped) < padded_tokens(plain)
    assert "group_by_length" not in tiny_config().fingerprint_dict()
    assert tiny_config(group_by_length=True).fingerprint_dict()["group_by_length"] is True


def test_finished_folder_is_reused_and_records_the_run(tiny_base: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    assert finetune(rows(8), out, tiny_config(), base_model=tiny_base) == out
    assert is_finished(out)
    assert not (tmp_path / ".m.partial").exists()
    meta = json.loads((out / "clearft-finetune.json").read_text())
    assert meta["steps"] == 2 and meta["n_examples"] == 8
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2]
    assert (out / "config.json").is_file() and (out / "adapter" / "adapter_config.json").is_file()
    weights = out / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    assert finetune(rows(8), out, tiny_config(), base_model=tiny_base) == out
    assert weights.stat().st_mtime_ns == stamp  # not trained again

    with pytest.raises(ClearftError, match="other data"):
        finetune(rows(9), out, tiny_config(), base_model=tiny_base)
    with pytest.raises(ClearftError, match="other data"):
        finetune(rows(8), out, tiny_config(learning_rate=1e-4), base_model=tiny_base)


def test_adapter_only_and_non_model_folder(tiny_base: Path, tmp_path: Path) -> None:
    out = finetune(rows(4), tmp_path / "m", tiny_config(merge=False, max_steps=1),
                   base_model=tiny_base)
    assert out == tmp_path / "m" / "adapter"
    assert not (tmp_path / "m" / "config.json").exists()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("mine")
    with pytest.raises(ClearftError, match="not a finished clearft model"):
        finetune(rows(4), junk, tiny_config(), base_model=tiny_base)


def test_loss_is_only_on_the_response(tiny_base: Path) -> None:
    """TRL's completion mask covers the target tokens (plus end of turn), never the prompt."""
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_base)
    row = example_to_row(rows(1)[0])
    prompt_ids = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True,
                                               tokenize=True)
    full_ids = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=True)
    if isinstance(prompt_ids, dict) or hasattr(prompt_ids, "keys"):
        prompt_ids, full_ids = prompt_ids["input_ids"], full_ids["input_ids"]
    assert full_ids[: len(prompt_ids)] == prompt_ids  # the prompt is a prefix: a clean cut
    completion = tokenizer.decode(full_ids[len(prompt_ids):])
    assert completion.startswith("positive")


def test_rows_and_fingerprint_are_pure() -> None:
    ex = rows(1)[0]
    assert example_to_row(ex) == {
        "prompt": [{"role": "user", "content": "Sentence 0: sentiment?"}],
        "completion": [{"role": "assistant", "content": "positive"}],
    }
    assert rows_fingerprint([example_to_row(e) for e in rows(3)]) == rows_fingerprint(
        [example_to_row(e) for e in rows(3)])
    assert rows_fingerprint([example_to_row(e) for e in rows(3)]) != rows_fingerprint(
        [example_to_row(e) for e in rows(2)])


def test_config_from_dict_and_cli_precedence(tmp_path: Path) -> None:
    import argparse

    from clearft.cli.finetune_cmd import add_parser, build_config

    with pytest.raises(ClearftError, match="lora_rank"):
        FinetuneConfig.from_dict({"lora_rank": 8})
    with pytest.raises(ClearftError, match="share_prefix: must be true or false, got 'False'"):
        FinetuneConfig.from_dict({"share_prefix": "False"})  # --finetune-set share_prefix=False: not JSON
    assert FinetuneConfig.from_dict({"share_prefix": False}).share_prefix is False
    cfg_file = tmp_path / "ft.json"
    cfg_file.write_text(json.dumps({"lora_r": 4, "epochs": 3, "learning_rate": 5e-4}))
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["finetune", "d.jsonl", "-o", "m", "--config", str(cfg_file),
                              "--epochs", "2", "--target-modules", "q_proj,v_proj", "--quiet"])
    cfg = build_config(args)
    assert (cfg.lora_r, cfg.epochs, cfg.learning_rate) == (4, 2.0, 5e-4)  # flag beats file
    assert cfg.target_modules == ["q_proj", "v_proj"] and cfg.progress is False
    assert cfg.batch_size == FinetuneConfig().batch_size


def test_ensure_base_model_passes_folders_through_and_rejects_junk(tiny_base: Path,
                                                                   tmp_path: Path) -> None:
    assert ensure_base_model(tiny_base) == tiny_base
    with pytest.raises(ClearftError, match="not a Hugging Face model folder"):
        ensure_base_model(tmp_path)
    with pytest.raises(ClearftError, match="expected 'default'"):
        ensure_base_model(tmp_path / "model.bin")


def test_a_cached_base_of_a_deleted_gguf_names_the_gguf_that_found_it(tmp_path: Path) -> None:
    """The rebuilt base is cached by the GGUF's content; when the file that built it is gone,
    the copy that finds it becomes its source (the GGUF export after a fine-tune reads it)."""
    from clearft.models import file_identity
    from clearft.training.base_model import BASE_MARKER

    gguf = tmp_path / "copy.gguf"
    gguf.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    cached = tmp_path / "base" / file_identity(gguf)
    cached.mkdir(parents=True)
    gone = {"source_gguf": str(tmp_path / "deleted.gguf"), "identity": cached.name}
    (cached / BASE_MARKER).write_text(json.dumps(gone))
    assert ensure_base_model(gguf, cache_dir=tmp_path / "base") == cached
    assert json.loads((cached / BASE_MARKER).read_text()) == {**gone, "source_gguf": str(gguf.resolve())}
    other = tmp_path / "other.gguf"
    other.write_bytes(gguf.read_bytes())  # a source that still exists is left as it is
    assert ensure_base_model(other, cache_dir=tmp_path / "base") == cached
    assert json.loads((cached / BASE_MARKER).read_text())["source_gguf"] == str(gguf.resolve())


def test_cli_finetune_help(capsys: pytest.CaptureFixture[str]) -> None:
    from clearft.cli.main import main

    with pytest.raises(SystemExit):
        main(["finetune", "--help"])
    out = capsys.readouterr().out
    assert "--lora-r" in out and "--command" in out and "--openai-model" in out


@pytest.mark.slow
def test_real_finetune_of_the_default_model(shared_data: Path, tmp_path: Path) -> None:
    """24 FPB rows, 3 steps of batch 8 on the embedded model; the merged model loads in the
    transformers backend and generates, and so does its GGUF copy in llama.cpp."""
    from clearft.backends.base import GenerateRequest
    from clearft.backends.registry import load_backend
    from clearft.data import open_dataset

    train = shared_data / "robustft" / "fpb" / "noisy" / "noisy30.csv"
    examples = list(open_dataset(train))[:24]
    cfg = FinetuneConfig(max_steps=3, batch_size=8, grad_accum=1, max_seq_len=256, progress=False)
    out = finetune(examples, tmp_path / "model", cfg)
    meta = json.loads((out / "clearft-finetune.json").read_text())
    assert meta["steps"] == 3
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert len(losses) == 3 and all(loss > 0 for loss in losses)
    # the trainer's mean loss is the mean of the steps the log records
    assert meta["train_loss"] == pytest.approx(sum(losses) / 3, rel=1e-3)
    # The cached plain copy of the embedded GGUF was used (and is reused from now on).
    assert ensure_base_model() == Path(meta["base_model"])

    request = GenerateRequest(messages=examples[0].messages, max_tokens=8)
    backend = load_backend("transformers", model=str(out))
    try:
        (reply,) = backend.generate([request])
    finally:
        backend.close()
    assert reply.ok and reply.texts[0].strip()

    # The GGUF copy serves the same model through llama.cpp.
    from clearft.evaluation import resolve_model

    assert meta["gguf"] == "model.gguf"
    gguf = str(out / "model.gguf")
    assert resolve_model(gguf, None) == ("llamacpp", {"model": gguf})
    backend = load_backend("llamacpp", model=str(out / "model.gguf"))
    try:
        (reply,) = backend.generate([request])
    finally:
        backend.close()
    assert reply.ok and reply.texts[0].strip()


def test_completion_loss_equals_the_models_own_loss_and_gradients(tiny_base: Path) -> None:
    """Only the trained positions go through the head, yet loss and gradients are the full model's."""
    import torch
    import transformers

    from clearft.training.completion_loss import completion_loss, head_is_linear

    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_base)
    ids = torch.randint(0, 1000, (3, 20), generator=torch.Generator().manual_seed(0))
    labels = ids.clone()
    labels[:, :15] = -100  # a prompt of 15 tokens, a target of 5
    labels[2, 18:] = -100  # one row padded at the end
    attention = torch.ones_like(ids)
    attention[2, 18:] = 0

    reference = model(input_ids=ids, attention_mask=attention, labels=labels).loss
    reference.backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    loss, count, right = completion_loss(model, {"input_ids": ids, "attention_mask": attention,
                                                 "labels": labels})
    loss.backward()
    assert torch.allclose(loss, reference, atol=1e-6)
    assert int(count) == 5 + 5 + 3  # the trained tokens: 5 in each full row, 3 in the padded one
    assert 0 <= int(right) <= int(count)
    for name, grad in expected.items():
        assert torch.allclose(dict(model.named_parameters())[name].grad, grad, atol=1e-6), name
    assert head_is_linear(model)
    model.config.final_logit_softcapping = 30.0
    assert not head_is_linear(model)  # such a head keeps TRL's loss
    # every target cut away by truncation: a zero loss, not 0 / 0
    nothing = torch.full_like(labels, -100)
    empty, none, _ = completion_loss(model, {"input_ids": ids, "attention_mask": attention, "labels": nothing},
                                     num_items_in_batch=0)
    assert int(none) == 0 and empty.item() == 0.0


def test_a_shared_prefix_runs_once_with_the_same_loss_and_gradients(tiny_base: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The tokens every row begins with run once as a cache the rows read: same loss, same
    gradients; the prefix stops before padding and before the first trained target."""
    import torch
    import transformers

    from clearft.backends.prefix_cache import MIN_SHARED_PREFIX
    from clearft.training.completion_loss import completion_loss, shared_prefix_length

    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_base)
    ids = torch.randint(0, 1000, (3, 40), generator=torch.Generator().manual_seed(1))
    ids[:, :25] = ids[0, :25]  # 25 tokens in common, then each row its own
    labels = ids.clone()
    labels[:, :32] = -100
    labels[2, 36:] = -100
    attention = torch.ones_like(ids)
    attention[2, 36:] = 0
    batch = {"input_ids": ids, "attention_mask": attention, "labels": labels}
    assert shared_prefix_length(batch) == 25
    runs = {}
    for share in (False, True):
        model.zero_grad()
        loss, count, right = completion_loss(model, batch, share_prefix=share)
        loss.backward()
        runs[share] = (loss, int(count), int(right),
                       {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert torch.allclose(runs[True][0], runs[False][0], atol=1e-6)
    assert runs[True][1:3] == runs[False][1:3]
    assert runs[True][3].keys() == runs[False][3].keys()
    for name, grad in runs[False][3].items():
        assert torch.allclose(runs[True][3][name], grad, atol=1e-6), name
    # a target inside the common part ends the prefix before the position that predicts it
    early = labels.clone()
    early[:, 20] = ids[:, 20]
    assert shared_prefix_length({**batch, "labels": early}) == 19
    # padding ends it too (a left-padded row, say)
    padded = attention.clone()
    padded[1, 10] = 0
    assert shared_prefix_length({**batch, "attention_mask": padded}) == 0  # 10 < MIN_SHARED_PREFIX
    assert MIN_SHARED_PREFIX > 10
    # one row, or keys the backbone would need handled (packed position ids): nothing shared
    assert shared_prefix_length({k: v[:1] for k, v in batch.items()}) == 0
    assert shared_prefix_length({**batch, "position_ids": torch.arange(40).expand(3, 40)}) == 0
    # a model whose cache holds more than keys and values (a recurrent layer's state) trains on
    # the whole batch instead, and stops trying
    from clearft.backends import prefix_cache

    assert not hasattr(model.model, prefix_cache.UNSHAREABLE)  # the runs above did share
    monkeypatch.setattr(prefix_cache, "SHAREABLE_LAYERS", ())
    model.zero_grad()
    fallback, _, _ = completion_loss(model, batch, share_prefix=True)
    assert torch.allclose(fallback, runs[False][0], atol=1e-6)
    assert getattr(model.model, prefix_cache.UNSHAREABLE) is True


def test_the_trainer_shares_the_prefix_and_learns_what_it_learns_without(
        tiny_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from clearft.backends import prefix_cache
    from clearft.training import completion_loss

    seen: list[int] = []
    measure = completion_loss.shared_prefix_length
    monkeypatch.setattr(completion_loss, "shared_prefix_length", lambda inputs: seen.append(measure(inputs)) or seen[-1])
    shared = finetune(rows(8), tmp_path / "shared", tiny_config(lora_dropout=0.0), base_model=tiny_base)
    whole = finetune(rows(8), tmp_path / "whole", tiny_config(lora_dropout=0.0, share_prefix=False),
                     base_model=tiny_base)
    assert len(seen) == 2 and all(n >= prefix_cache.MIN_SHARED_PREFIX for n in seen)  # the template's
    a, b = adapter_tensors(shared), adapter_tensors(whole)
    assert a.keys() == b.keys() and len(a) > 0
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key  # type: ignore[arg-type]


def test_trainer_with_the_completion_loss_trains_as_trl_does(tiny_base: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from clearft.training import completion_loss

    ours = finetune(rows(8), tmp_path / "ours", tiny_config(lora_dropout=0.0), base_model=tiny_base)
    monkeypatch.setattr(completion_loss, "trainer_class", lambda base, *_: base)
    trl = finetune(rows(8), tmp_path / "trl", tiny_config(lora_dropout=0.0), base_model=tiny_base)
    import torch

    a, b = adapter_tensors(ours), adapter_tensors(trl)
    assert a.keys() == b.keys()
    assert any(not torch.equal(t, torch.zeros_like(t)) for t in a.values())
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key  # type: ignore[arg-type]
    logged = [json.loads(line) for line in (ours / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if "loss" in r] == [1, 2]
    assert all(0 <= r["mean_token_accuracy"] <= 1 for r in logged if "loss" in r)


def test_the_trainer_keeps_trls_loss_where_its_own_does_not_apply(tiny_base: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Outputs asked for, another objective, several processes, a head with a softcap, or too
    many logits at once: TRL's loss."""
    from collections import defaultdict
    from types import SimpleNamespace

    import torch
    import transformers

    from clearft.training import completion_loss

    class TRL:  # stands in for SFTTrainer: its loss is a marker
        def __init__(self, model: Any) -> None:
            self.model = model
            self._metrics: dict[str, Any] = {"train": defaultdict(list), "eval": defaultdict(list)}
            self.args = SimpleNamespace(loss_type="nll")
            self.accelerator = SimpleNamespace(num_processes=1)
            self.label_smoother = self.compute_loss_func = None
            self.aux_loss_enabled = False

        def compute_loss(self, model: Any, inputs: Any, return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            return "trl"

    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_base)
    trainer = completion_loss.trainer_class(TRL)(model)
    ids = torch.randint(0, 1000, (2, 12), generator=torch.Generator().manual_seed(1))
    labels = ids.clone()
    labels[:, :9] = -100
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}

    own = trainer.compute_loss(model, inputs)
    assert isinstance(own, torch.Tensor) and own.item() > 0
    assert trainer._metrics["eval"]["mean_token_accuracy"]  # model.eval(): logged under eval
    assert trainer.compute_loss(model, inputs, return_outputs=True) == "trl"
    monkeypatch.setattr(completion_loss, "MAX_LOGITS", 2 * 3 * len(model.get_output_embeddings().weight) - 1)
    assert trainer.compute_loss(model, inputs) == "trl"  # 6 trained tokens x vocabulary: one logit too many
    monkeypatch.setattr(completion_loss, "MAX_LOGITS", 2**27)
    for name, value in [("args", SimpleNamespace(loss_type="dft")), ("label_smoother", object()),
                        ("aux_loss_enabled", True), ("accelerator", SimpleNamespace(num_processes=2))]:
        plain = getattr(trainer, name)
        setattr(trainer, name, value)
        assert trainer.compute_loss(model, inputs) == "trl", name
        setattr(trainer, name, plain)
    assert isinstance(trainer.compute_loss(model, inputs), torch.Tensor)
    model.config.final_logit_softcapping = 30.0
    assert trainer.compute_loss(model, inputs) == "trl"
