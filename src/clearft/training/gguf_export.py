"""A fine-tuned model as a GGUF file, so the default llama.cpp backend can serve it.

llama.cpp's own converter (convert_hf_to_gguf.py) is not shipped in any wheel, but when the
base model came from a GGUF we already hold everything else a GGUF needs: the original file
supplies the metadata (architecture, hyperparameters, tokenizer, chat template) and the merged
model supplies the weights. Weight names map through the `gguf` package's tensor name map;
llama-style q/k projections are permuted the way llama.cpp's converter permutes them
(transformers un-permutes them when it reads a GGUF). Llama architecture only (SmolLM2 is one);
other models are served by the transformers backend.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from clearft.errors import ClearftError

OUT_TYPES = ("q8_0", "f16", "f32")


def permute_qk(weights: Any, n_head: int, n_head_kv: int | None = None) -> Any:
    """llama.cpp's rotary layout for a q (n_head) or k (n_head_kv) projection (numpy, pure)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


def export_gguf(model_dir: str | Path, template_gguf: str | Path, out_path: str | Path,
                out_type: str = "q8_0") -> Path:
    """Write the merged HF model in `model_dir` as a GGUF shaped like `template_gguf`."""
    import numpy as np

    from clearft.deps import require

    gguf = require("gguf", "writing a GGUF file")
    safetensors_torch = require("safetensors.torch", "reading model weights")
    if out_type not in OUT_TYPES:
        raise ClearftError(f"GGUF type {out_type!r}: choose one of {', '.join(OUT_TYPES)}")
    reader = gguf.GGUFReader(str(template_gguf))
    arch_name = reader.fields["general.architecture"].contents()
    if arch_name != "llama":
        raise ClearftError(
            f"GGUF export supports llama-architecture models, not {arch_name!r}; "
            "serve the merged folder with the transformers backend"
        )
    n_head = int(reader.fields["llama.attention.head_count"].contents())
    n_head_kv = int(reader.fields["llama.attention.head_count_kv"].contents())
    n_blocks = int(reader.fields["llama.block_count"].contents())
    arch = {name: key for key, name in gguf.MODEL_ARCH_NAMES.items()}[arch_name]
    name_map = gguf.get_tensor_name_map(arch, n_blocks)

    state: dict[str, Any] = {}
    for shard in sorted(Path(model_dir).glob("*.safetensors")):
        state.update(safetensors_torch.load_file(str(shard)))
    by_gguf_name: dict[str, Any] = {}
    for hf_name, tensor in state.items():
        gguf_name = name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            continue
        data = tensor.float().numpy()
        if hf_name.endswith("q_proj.weight"):
            data = permute_qk(data, n_head, n_head)
        elif hf_name.endswith("k_proj.weight"):
            data = permute_qk(data, n_head, n_head_kv)
        by_gguf_name[gguf_name] = data

    qtype = {"q8_0": gguf.GGMLQuantizationType.Q8_0, "f16": gguf.GGMLQuantizationType.F16,
             "f32": gguf.GGMLQuantizationType.F32}[out_type]
    file_type = {"q8_0": gguf.LlamaFileType.MOSTLY_Q8_0, "f16": gguf.LlamaFileType.MOSTLY_F16,
                 "f32": gguf.LlamaFileType.ALL_F32}[out_type]
    out = Path(out_path)
    tmp = out.with_name(out.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), arch_name)
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name in ("general.architecture", "general.file_type"):
            continue
        val_type = field.types[0]
        sub_type = field.types[-1] if val_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), val_type, sub_type=sub_type)
    writer.add_file_type(int(file_type))
    for tensor in reader.tensors:
        if tensor.name not in by_gguf_name:
            raise ClearftError(f"the merged model has no weight for GGUF tensor {tensor.name}")
        data = by_gguf_name[tensor.name]
        if data.ndim == 1 or qtype == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(tensor.name, data.astype(np.float32))
        elif qtype == gguf.GGMLQuantizationType.F16:
            writer.add_tensor(tensor.name, data.astype(np.float16))
        else:
            packed = gguf.quants.quantize(data.astype(np.float32), qtype)
            writer.add_tensor(tensor.name, packed, raw_shape=packed.shape, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, out)
    return out
