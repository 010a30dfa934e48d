"""Merge a LoRA adapter into its base model, for serving without peft (transformers, vLLM, TGI).

    python -m training.merge --adapter runs/train/qwen2.5-coder-0.5b-cpu-lora/adapter --out runs/merged/qwen-tweetsumm
    python -m training.merge --adapter ADAPTER --base meta-llama/Llama-2-7b-chat-hf --out merged/ --dtype bfloat16

The base defaults to the one recorded in the adapter's ``adapter_config.json``; an embedded model name
is resolved to its cached safetensors folder. The merge is done in full precision (merging into 4-bit
weights would round the update away); the merged folder is written atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from assistant.errors import SupportLensError


def merge(adapter: str | Path, out: str | Path, base: str | None = None, dtype: str = "float32") -> Path:
    """Merge ``adapter`` into ``base`` (default: the adapter's recorded base) and save to ``out``."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from assistant.models import adapter_base, resolve_model

    adapter, out = Path(adapter), Path(out)
    base = adapter_base(adapter, base)
    base_path = resolve_model(base, "transformers").path
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=getattr(torch, dtype))
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(adapter if (adapter / "tokenizer_config.json").is_file() else base_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=out.name + ".tmp"))
    try:
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "MERGED_FROM.json").write_text(json.dumps({"base": base, "adapter": str(adapter), "dtype": dtype}, indent=2))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m training.merge --adapter DIR --out DIR [--base MODEL] [--dtype float32|bfloat16|float16]``."""
    parser = argparse.ArgumentParser(description="Merge a LoRA adapter into its base model.")
    parser.add_argument("--adapter", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--base", default=None, help="base model (default: recorded in the adapter)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    args = parser.parse_args(argv)
    try:
        out = merge(args.adapter, args.out, args.base, args.dtype)
    except SupportLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"merged model written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
