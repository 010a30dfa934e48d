"""Export a LoRA adapter to GGUF, so the llama.cpp backend (the fast default on CPU) can serve base + adapter.

    python -m training.export_gguf --adapter runs/train/qwen2.5-coder-0.5b-cpu-lora/adapter --out adapter.gguf
    python -m supportlens summarize dialog.txt --adapter adapter.gguf        # llama.cpp applies it at load time

The conversion is llama.cpp's own ``convert_lora_to_gguf.py``, taken from the source distribution of the
llama-cpp-python version we install (pip downloads it from PyPI once; cached under
``$SUPPORTLENS_CACHE/llama.cpp-<version>``), run with llama.cpp's matching ``gguf-py``. The base model is the
adapter's recorded base, as a transformers folder (embedded models resolve to their converted folder).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from assistant.errors import ModelUnavailable, SupportLensError
from assistant.models import adapter_base, cache_dir, resolve_model

_NEEDED = ("convert_lora_to_gguf.py", "convert_hf_to_gguf.py", "conversion/", "gguf-py/")


def llama_cpp_converter() -> Path:
    """The folder holding llama.cpp's converters for the installed llama-cpp-python (downloaded once)."""
    from importlib.metadata import version

    ver = version("llama-cpp-python")
    dest = cache_dir() / f"llama.cpp-{ver}"
    if (dest / "convert_lora_to_gguf.py").is_file():
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
               "-d", tmp, f"llama-cpp-python=={ver}"]
        if subprocess.run(cmd, capture_output=True, text=True).returncode != 0:
            raise ModelUnavailable(f"Could not download the llama-cpp-python {ver} source from PyPI (needed for its converter).")
        sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        prefix = f"llama_cpp_python-{ver}/vendor/llama.cpp/"
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=dest.name + ".tmp"))
        with tarfile.open(sdist) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefix)
                       and any(m.name[len(prefix):].startswith(n) for n in _NEEDED) and m.isfile()]
            for m in members:
                m.name = m.name[len(prefix):]
            tar.extractall(staging, members=members, filter="data")
        os.replace(staging, dest)
    return dest


def export(adapter: str | Path, out: str | Path, base: str | None = None, outtype: str = "f16") -> Path:
    """Convert the PEFT ``adapter`` to a llama.cpp LoRA GGUF at ``out`` (``outtype``: f32, f16, bf16 or q8_0)."""
    adapter, out = Path(adapter), Path(out)
    base = adapter_base(adapter, base)
    base_dir = resolve_model(base, "transformers").path
    if not Path(base_dir).is_dir():
        raise ModelUnavailable(f"The adapter's base model {base!r} is not a local folder: pass --base PATH.")
    tools = llama_cpp_converter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tools / "gguf-py"), str(tools)])}
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(tools / "convert_lora_to_gguf.py"), "--base", str(base_dir), "--outfile", str(out),
           "--outtype", outtype, str(adapter)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not out.is_file():
        raise ModelUnavailable(f"llama.cpp's converter failed: {proc.stderr.strip()[-500:]}")
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m training.export_gguf --adapter DIR --out FILE.gguf [--base MODEL]``."""
    parser = argparse.ArgumentParser(description="Export a LoRA adapter to GGUF for llama.cpp.")
    parser.add_argument("--adapter", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--base", default=None)
    parser.add_argument("--outtype", default="f16", choices=("f32", "f16", "bf16", "q8_0"),
                        help="tensor type of the GGUF (q8_0 halves the size of f16)")
    args = parser.parse_args(argv)
    try:
        path = export(args.adapter, args.out, args.base, args.outtype)
    except SupportLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
