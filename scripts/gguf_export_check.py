#!/usr/bin/env python3
"""Checks finetune-gguf's writer against llama.cpp's Python reader and transformers' loader.

Re-exports SmolLM2-135M-Instruct Q4_1 as F16 and as Q8_0 with the `gguf_export` example (every
tensor read by its Hugging Face name and written back, q/k rows permuted again), then for each:
`gguf.GGUFReader` must read it, and `AutoModelForCausalLM.from_pretrained(dir, gguf_file=...)`
must load weights equal to those it loads from the source file within the type's tolerance,
and the tokenizer must give the same ids. Prints one line per file; exits non-zero on a mismatch.

    .fixtures/venv-gguf/bin/python scripts/gguf_export_check.py   (venv: see gguf_reference.py)
"""

import os
import pathlib
import subprocess
import sys
import tempfile


def main() -> None:
    repo = pathlib.Path(__file__).resolve().parent.parent
    fixtures = pathlib.Path(os.environ.get("FINETUNE_FIXTURES", repo / ".fixtures"))
    src_dir = fixtures / "smollm2"
    src = "SmolLM2-135M-Instruct.Q4_1.gguf"
    target = "x86_64-unknown-linux-gnu"
    env = dict(os.environ, RUSTFLAGS="-C target-feature=+crt-static")
    subprocess.run(
        ["cargo", "build", "--release", "--locked", "--quiet", "--target", target, "-p", "finetune-gguf",
         "--example", "gguf_export"], cwd=repo, env=env, check=True)
    exe = repo / "target" / target / "release" / "examples" / "gguf_export"

    import gguf
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ref = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=src, dtype=torch.float32).state_dict()
    ref_tok = AutoTokenizer.from_pretrained(src_dir, gguf_file=src)
    text = "<|im_start|>user\nCafé 😀 def f(x): return 42<|im_end|>\n"
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for ty, rel in (("f16", 1 / 1024), ("q8_0", None)):
            out = pathlib.Path(tmp) / f"smollm2-{ty}.gguf"
            subprocess.run([exe, src_dir / src, out, ty], check=True, stdout=subprocess.DEVNULL)
            reader = gguf.GGUFReader(str(out))
            types = sorted({t.tensor_type.name for t in reader.tensors})
            model = AutoModelForCausalLM.from_pretrained(tmp, gguf_file=out.name, dtype=torch.float32).state_dict()
            worst = 0.0
            for name, w in ref.items():
                got = model[name]
                err = (got - w).abs()
                if rel is not None:  # F16: relative to each value
                    tol = w.abs() * rel + 1e-7
                else:  # Q8_0: within a block's step, the block's largest magnitude / 127
                    blocks = w.reshape(-1, 32) if w.dim() > 1 else w.reshape(1, -1)
                    step = blocks.abs().amax(dim=1, keepdim=True) / 127
                    tol = (step * 0.57).expand_as(blocks).reshape(w.shape) if w.dim() > 1 else torch.zeros_like(w)
                if not bool((err <= tol).all()):
                    print(f"{ty}: {name} differs by up to {float(err.max()):.3g}", file=sys.stderr)
                    failed = True
                worst = max(worst, float(err.max()))
            ids = AutoTokenizer.from_pretrained(tmp, gguf_file=out.name)(text)["input_ids"]
            same_ids = ids == ref_tok(text)["input_ids"]
            failed |= not same_ids
            print(f"{ty}: gguf reads {len(reader.tensors)} tensors {types}; transformers loads "
                  f"{len(model)} weights, max |diff| {worst:.3g} vs the source; token ids equal: {same_ids}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
