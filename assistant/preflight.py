"""Preflight: prove that llama.cpp runs a model on this CPU before anything depends on it.

    python -m supportlens prepare                         # runs this check for the summary and audit models
    python -m assistant.preflight MODEL.gguf            # the child process itself: prints one JSON line

llama.cpp is native code: a build that does not fit the CPU (an AMX Xeon repacking weights into its AMX buffer
type, upstream llama.cpp issue 20824; a wheel built natively on an AVX-512 machine and copied to an AVX2-only
one) dies with a signal, taking the process with it. So the check runs a short real generation and one
next-token probability call in a child process; if the child dies, the user reads which model, which CPU, and
what to do, instead of meeting a server that dies on its first Summarize. A passing check is remembered (keyed
by the model file, the llama.cpp library and the CPU), so ``make run`` pays for it once.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

#: CPU flags (as /proc/cpuinfo names them) that decide which llama.cpp build runs here.
RELEVANT_FLAGS = ("avx", "avx2", "fma", "f16c", "bmi2", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
                  "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")
REQUIRED_X86 = ("avx", "avx2", "fma", "f16c")  # what tools/install_llama_cpp.py builds for (x86-64-v3)
REINSTALL = ("rebuild llama-cpp-python portably for this machine: `make clean-env && make install`, or in an "
             "existing environment `.venv/bin/python tools/install_llama_cpp.py`")


@dataclass(frozen=True)
class CpuInfo:
    """What this machine's processor is and can do."""

    model: str
    machine: str
    flags: tuple[str, ...]  # the RELEVANT_FLAGS it has

    @property
    def has_amx(self) -> bool:
        """Whether the CPU has Intel AMX tiles (where llama.cpp's AMX repacking crashes)."""
        return "amx_tile" in self.flags

    def describe(self) -> str:
        """One line for a message: model, architecture and the relevant flags."""
        return f"{self.model} ({self.machine}; {' '.join(self.flags) or 'none of ' + '/'.join(REQUIRED_X86)})"


def cpu_info(cpuinfo: str | None = None) -> CpuInfo:
    """Read the CPU model and flags from ``/proc/cpuinfo`` (or the given text); other systems get no flags."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            cpuinfo = ""
    model, flags = platform.processor() or "unknown CPU", set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and value.strip():
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return CpuInfo(model, platform.machine(), tuple(f for f in RELEVANT_FLAGS if f in flags))


@dataclass(frozen=True)
class Outcome:
    """How a model's check in the child process went."""

    model: str
    ok: bool
    seconds: float
    detail: str  # the generated text, or what went wrong
    signal: str | None = None  # e.g. "SIGSEGV" when the child died from one

    def message(self, cpu: CpuInfo, build: str) -> str:
        """What a user reads when the check failed: the model, the CPU, the build, and what to do."""
        if self.ok:
            return f"{self.model}: llama.cpp runs it on this CPU ({self.seconds:.1f} s check)."
        if self.signal:
            what = {"SIGILL": "an illegal instruction: this llama.cpp build uses instructions this CPU lacks "
                              "(typically a wheel built natively on another machine)",
                    "SIGSEGV": "a segmentation fault inside llama.cpp (on AMX Xeons: weight repacking into the AMX "
                               "buffer type, upstream llama.cpp issue 20824)"}.get(self.signal, f"signal {self.signal}")
            head = f"llama.cpp crashed running the model '{self.model}' on this CPU: {what}."
        else:
            head = f"llama.cpp could not run the model '{self.model}': {self.detail}"
        missing = [f for f in REQUIRED_X86 if f not in cpu.flags] if cpu.machine in ("x86_64", "AMD64") else []
        advice = (f"This CPU lacks {', '.join(missing)}, which the embedded models' llama.cpp build needs: use "
                  "--backend transformers (slower) or a served model (--backend openai)." if missing else
                  f"What to do: {REINSTALL}; or run with --backend transformers meanwhile.")
        tail = f"\nLast output of the check:\n{self.detail}" if self.signal and self.detail else ""
        return f"{head}\nCPU: {cpu.describe()}\nllama.cpp build: {build}\n{advice}{tail}"


def llama_build() -> str:
    """llama.cpp's own line of compiled CPU features (importing the library runs no model code)."""
    try:
        import llama_cpp
    except ImportError:
        return "llama-cpp-python is not installed"
    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
    return f"llama-cpp-python {llama_cpp.__version__}: {info}"


def _library_file() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return None
    lib = Path(next(iter(spec.submodule_search_locations))) / "lib"
    return next(iter(sorted(lib.glob("libllama.*"))), None)


def _stamp(gguf: Path, cpu: CpuInfo) -> Path:
    """Where a passing check is remembered: keyed by the model file, the llama.cpp library and the CPU."""
    from assistant.models import cache_dir

    parts = [str(gguf.resolve()), cpu.model, " ".join(cpu.flags)]
    for f in (gguf, _library_file()):
        if f is not None and f.exists():
            st = f.stat()
            parts += [str(f), str(st.st_size), str(st.st_mtime_ns)]
    key = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    return cache_dir() / "preflight" / f"{gguf.stem}-{key}.json"


def child_command(gguf: Path) -> list[str]:
    """The command line of the child process that checks ``gguf``."""
    return [sys.executable, "-m", "assistant.preflight", str(gguf)]


def run_check(model: str, gguf: Path, *, command: list[str] | None = None, timeout: float = 300.0,
              use_cache: bool = True) -> Outcome:
    """Run the check for ``model`` (its GGUF at ``gguf``) in a child process and report how it went.

    ``command`` replaces the child's command line (tests give one that dies with a signal).
    """
    cpu = cpu_info()
    stamp = _stamp(gguf, cpu)
    if use_cache and command is None and stamp.is_file():
        return Outcome(model, True, 0.0, "passed before on this CPU with this build")
    command = command or child_command(gguf)
    start = time.perf_counter()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, PYTHONFAULTHANDLER="1"))
    except subprocess.TimeoutExpired:
        return Outcome(model, False, timeout, f"the check did not finish within {timeout:.0f} s")
    seconds = time.perf_counter() - start
    tail = _last_words(proc.stderr or "")
    if proc.returncode < 0:
        return Outcome(model, False, seconds, tail, _signal_name(-proc.returncode))
    if proc.returncode != 0:
        return Outcome(model, False, seconds, tail or f"exit status {proc.returncode}")
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return Outcome(model, False, seconds, f"the check printed no result: {proc.stdout[-300:]!r}")
    if use_cache:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({**result, "cpu": asdict(cpu), "build": llama_build()}))
    return Outcome(model, True, seconds, result.get("text", ""))


def ensure_runs(model: str, gguf: Path) -> None:
    """Raise ModelUnavailable, with the whole explanation, unless llama.cpp runs ``model`` on this CPU."""
    from assistant.errors import ModelUnavailable

    outcome = run_check(model, gguf)
    if not outcome.ok:
        raise ModelUnavailable(outcome.message(cpu_info(), llama_build()))


def _last_words(stderr: str) -> str:
    """What a dying child said that helps: the fatal-error line and the last few lines."""
    lines = stderr.strip().splitlines()
    fatal = [line for line in lines if line.startswith("Fatal Python error")][:1]
    return "\n".join(fatal + [line for line in lines[-6:] if line not in fatal])


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def child(gguf: str) -> dict:
    """In the child: load ``gguf`` the way the app does, generate a few tokens and score a yes/no choice."""
    from assistant.backends.base import GenerationParams
    from assistant.backends.llamacpp import LlamaCppGenerator

    generator = LlamaCppGenerator(gguf, n_ctx=512)
    text = "".join(generator.stream("Say hello to the customer.", GenerationParams(max_new_tokens=8)))
    yes, no = generator.choice_probabilities("Is the sky blue? Answer yes or no.\nAnswer:", ["yes", "no"])
    return {"text": text, "p_yes": yes, "p_no": no}


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1])), flush=True)
