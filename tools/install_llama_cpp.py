"""Install llama-cpp-python into the running interpreter, built for this CPU's instruction-set level, cached.

    python tools/install_llama_cpp.py            # what `make install` runs
    python tools/install_llama_cpp.py --print    # show the flags and the wheel cache folder, install nothing

Why not a plain ``pip install llama-cpp-python``: pip builds llama.cpp with ``GGML_NATIVE`` (``-march=native``,
AMX included on Xeons that have it) and caches that wheel keyed by the source file alone. On an AMX Xeon the
native build repacks the weights into llama.cpp's AMX buffer type and segfaults on the first decode (upstream
llama.cpp issue 20824); a native wheel reused on an older CPU dies with an illegal instruction.

So we build for an explicit level, never native and never AMX: x86-64-v4 (AVX-512, with VNNI/VBMI/BF16 where the
CPU has them) on CPUs with AVX-512, x86-64-v3 (AVX2, FMA, F16C, BMI2) on the others, SSE 4.2 below that. The
wheel is kept in our own cache under a key of the version, the flags, the architecture and the Python version,
so each machine gets the wheel for its own level and never another's. README, "CPU portability", has the
measured speed of each level against the old native build. ``SUPPORTLENS_LLAMA_CMAKE_ARGS`` replaces the flags
(e.g. a CUDA build: ``-DGGML_CUDA=ON``). Other architectures get llama.cpp's defaults.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import subprocess
import sys
from pathlib import Path

VERSION = "0.3.36"
# Never on: AMX (its buffer type crashes on the first decode, upstream issue 20824) and the multimodal library
# (unused here, and it costs build time).
ALWAYS = "-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAVA_BUILD=OFF"
X86_64_V3 = ("avx", "avx2", "fma", "f16c", "bmi2")  # Haswell (2013) / Excavator (2015) and every x86-64 since
X86_64_V4 = ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw")  # Skylake-SP, Ice Lake, Zen 4 and later


def cpu_flags() -> set[str]:
    """This machine's CPU flags as /proc/cpuinfo names them (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return set()
    return next((set(line.split(":", 1)[1].split()) for line in text.splitlines() if line.startswith("flags")), set())


def build_flags(machine: str | None = None, flags: set[str] | None = None) -> str:
    """The CMake flags for a CPU: an explicit instruction-set level, never -march=native, never AMX."""
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64"):
        return "-DLLAVA_BUILD=OFF"  # llama.cpp's own defaults elsewhere (the wheel key names the machine)
    flags = cpu_flags() if flags is None else flags
    on = lambda name, present: f"-DGGML_{name}={'ON' if present else 'OFF'}"  # noqa: E731
    v3 = all(f in flags for f in X86_64_V3)
    v4 = v3 and all(f in flags for f in X86_64_V4)
    return " ".join([ALWAYS, on("SSE42", "sse4_2" in flags), *(on(n, v3) for n in ("AVX", "AVX2", "FMA", "F16C", "BMI2")),
                     on("AVX_VNNI", False), on("AVX512", v4), on("AVX512_VBMI", v4 and "avx512vbmi" in flags),
                     on("AVX512_VNNI", v4 and "avx512_vnni" in flags), on("AVX512_BF16", v4 and "avx512_bf16" in flags)])


def wheel_dir(flags: str, machine: str | None = None) -> Path:
    """The cache folder of the wheel built with ``flags``: one per version, flags, architecture and Python, so a
    wheel built for another CPU level (or an older native one in pip's cache) is never picked up by mistake."""
    machine = (machine or platform.machine()).lower()
    key = hashlib.sha256(f"{VERSION}|{machine}|{flags}|{sys.version_info[:2]}".encode()).hexdigest()[:12]
    root = Path(os.environ.get("SUPPORTLENS_CACHE", Path.home() / ".cache" / "supportlens"))
    return root / "wheels" / f"llama-cpp-python-{VERSION}-{machine}-{key}"


def main(argv: list[str] | None = None) -> int:
    """Build the wheel if this flag set has none yet, then install it into this interpreter."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--print", action="store_true", help="print the flags and the wheel folder, install nothing")
    args = ap.parse_args(argv)
    flags = os.environ.get("SUPPORTLENS_LLAMA_CMAKE_ARGS") or build_flags()
    where = wheel_dir(flags)
    if args.print:
        print(f"CMAKE_ARGS={flags}\nwheel folder: {where}")
        return 0
    wheels = sorted(where.glob("llama_cpp_python-*.whl"))
    if not wheels:
        print(f"Building llama-cpp-python {VERSION} ({flags}); about 4 minutes on 2 cores, once per CPU level. "
              f"The wheel is kept in {where}.", flush=True)
        where.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, CMAKE_ARGS=flags, FORCE_CMAKE="1")
        # --no-cache-dir: pip's own cache keys a built wheel by the source file only, not by CMAKE_ARGS.
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-cache-dir",
                        "--no-binary", "llama-cpp-python", f"llama-cpp-python=={VERSION}", "-w", str(where)],
                       env=env, check=True)
        wheels = sorted(where.glob("llama_cpp_python-*.whl"))
    # --force-reinstall --no-deps: replace whatever build is in the environment (an older native one) with this.
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall",
                    str(wheels[-1])], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "numpy>=1.26", "typing-extensions>=4.5",
                    "diskcache>=5.6.1", "jinja2>=2.11.3"], check=True)
    print(f"llama-cpp-python {VERSION} installed from {wheels[-1].name} ({flags})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
