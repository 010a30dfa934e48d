"""The preflight check: a child process that dies with a signal becomes a message naming the model, the CPU
and what to do; the runtime switch that keeps llama.cpp off its AMX repacking; the CLI's prepare."""

import signal
import sys

import pytest

from assistant import preflight
from assistant.errors import ModelUnavailable

AMX_XEON = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse sse2 avx f16c fma bmi2 avx2 avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""
AVX2_ONLY = """model name\t: Intel(R) Core(TM) i7-4770 CPU @ 3.40GHz
flags\t\t: fpu sse sse2 avx f16c fma bmi2 avx2
"""
OLD_CPU = """model name\t: Intel(R) Core(TM)2 Duo CPU
flags\t\t: fpu sse sse2 ssse3
"""


def dies_with(sig: signal.Signals) -> list[str]:
    """A child that prints a line, then dies the way a native crash does."""
    return [sys.executable, "-c", f"import os; print('loading model', flush=True); "
                                  f"import sys; print('about to decode', file=sys.stderr, flush=True); "
                                  f"os.kill(os.getpid(), {int(sig)})"]


def test_cpu_info_reads_model_and_relevant_flags():
    cpu = preflight.cpu_info(AMX_XEON)
    assert cpu.model.startswith("Intel(R) Xeon(R) Platinum 8481C")
    assert cpu.has_amx and "avx512f" in cpu.flags and "sse" not in cpu.flags
    assert not preflight.cpu_info(AVX2_ONLY).has_amx
    assert preflight.cpu_info("").flags == ()


@pytest.mark.parametrize("sig, words", [(signal.SIGSEGV, "segmentation fault"), (signal.SIGILL, "illegal instruction")])
def test_a_child_that_dies_with_a_signal_is_explained(tmp_path, monkeypatch, sig, words):
    monkeypatch.setenv("SUPPORTLENS_CACHE", str(tmp_path))
    monkeypatch.setattr(preflight, "cpu_info", lambda cpuinfo=None: preflight.CpuInfo(
        "Intel(R) Xeon(R) Platinum 8481C", "x86_64", ("avx", "avx2", "fma", "f16c", "amx_tile")))
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    outcome = preflight.run_check("qwen-test", gguf, command=dies_with(sig))
    assert not outcome.ok and outcome.signal == sig.name
    text = outcome.message(preflight.cpu_info(), "CPU : AVX2 = 1 | AMX_INT8 = 1")
    assert "qwen-test" in text and words in text and "Xeon" in text and "amx_tile" in text
    assert "AMX_INT8 = 1" in text and "tools/install_llama_cpp.py" in text
    assert "about to decode" in text  # the child's last words are shown
    assert not list(tmp_path.glob("preflight/*.json")), "a failed check must not be remembered"


def test_a_cpu_without_avx2_is_told_to_use_another_backend():
    outcome = preflight.Outcome("m", False, 0.1, "", "SIGILL")
    text = outcome.message(preflight.cpu_info(OLD_CPU), "")
    assert "lacks avx, avx2, fma, f16c" in text and "--backend transformers" in text


def test_a_child_that_fails_without_a_signal_gives_its_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPPORTLENS_CACHE", str(tmp_path))
    cmd = [sys.executable, "-c", "import sys; sys.exit('failed to load model')"]
    outcome = preflight.run_check("m", tmp_path / "m.gguf", command=cmd)
    assert not outcome.ok and outcome.signal is None and "failed to load model" in outcome.detail


def test_prepare_and_load_generator_stop_on_a_crashing_model(tmp_path, monkeypatch, capsys):
    """`python -m supportlens prepare` (what `make run` runs first) exits non-zero with the explanation, and
    every other entry point (load_generator) raises it as ModelUnavailable instead of dying."""
    from assistant import models
    from supportlens.__main__ import main
    from assistant.backends import load_generator
    from assistant.config import AssistantConfig

    monkeypatch.setenv("SUPPORTLENS_CACHE", str(tmp_path))
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(models, "resolve_model", lambda source, backend, progress=None: models.ResolvedModel(
        source, str(gguf), "gguf"))
    monkeypatch.setattr("assistant.backends.resolve_model", models.resolve_model)
    monkeypatch.setattr(preflight, "child_command", lambda path: dies_with(signal.SIGSEGV))
    assert main(["prepare"]) == 3
    err = capsys.readouterr().err
    assert "crashed running the model 'qwen2.5-coder-0.5b-instruct'" in err
    assert "qwen2.5-coder-1.5b-instruct" in err  # both models are checked
    with pytest.raises(ModelUnavailable, match="segmentation fault"):
        load_generator(AssistantConfig())


def test_a_passing_check_is_remembered(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPPORTLENS_CACHE", str(tmp_path))
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    ok = [sys.executable, "-c", "print('{\"text\": \"hi\"}')"]
    monkeypatch.setattr(preflight, "child_command", lambda path: ok)
    assert preflight.run_check("m", gguf).detail == "hi"
    monkeypatch.setattr(preflight, "child_command", lambda path: dies_with(signal.SIGSEGV))
    assert preflight.run_check("m", gguf).ok  # not run again
    gguf.write_bytes(b"GGUF v2")  # another model file: checked again
    assert not preflight.run_check("m", gguf).ok


def test_repacking_is_switched_off_only_for_amx_kernels_on_an_amx_cpu(monkeypatch):
    import llama_cpp

    from assistant.backends.llamacpp import amx_safe

    read = preflight.cpu_info

    for compiled, cpu, safe in [("AVX2 = 1 | REPACK = 1", AMX_XEON, True), ("AMX_INT8 = 1 | REPACK = 1", AMX_XEON, False),
                                ("AMX_INT8 = 1 | REPACK = 1", AVX2_ONLY, True)]:
        monkeypatch.setattr(llama_cpp, "llama_print_system_info", lambda c=compiled: f"CPU : {c} |".encode())
        monkeypatch.setattr(preflight, "cpu_info", lambda cpuinfo=None, c=cpu: read(c))
        assert amx_safe() is safe, (compiled, cpu)


def test_model_params_override_is_undone_even_on_failure():
    import llama_cpp.llama_cpp as lib

    from assistant.backends.llamacpp import _model_params

    default = lib.llama_model_default_params
    with pytest.raises(RuntimeError):
        with _model_params(use_extra_bufts=False):
            assert lib.llama_model_default_params().use_extra_bufts is False
            raise RuntimeError("load failed")
    assert lib.llama_model_default_params is default and default().use_extra_bufts is True
