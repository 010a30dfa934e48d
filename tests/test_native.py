"""The real llama.cpp path, run before every other real-model test (tests/conftest.py orders it first): each
embedded model generates and scores a yes/no choice in a child process, then in this process."""

import pytest

from assistant.backends.base import GenerationParams
from assistant.models import AUDIT_MODEL, DEFAULT_MODEL, embedded_gguf
from assistant.preflight import cpu_info, llama_build, run_check
from tests.conftest import REPO

pytestmark = pytest.mark.real_model


@pytest.mark.parametrize("name", [DEFAULT_MODEL, AUDIT_MODEL])
def test_each_embedded_model_runs_in_a_child_process(name):
    outcome = run_check(name, embedded_gguf(name), use_cache=False)
    assert outcome.ok, outcome.message(cpu_info(), llama_build())
    assert outcome.detail.strip(), "the check generated nothing"


def test_generation_and_choice_probabilities_in_process():
    from assistant.backends.llamacpp import LlamaCppGenerator, amx_safe

    gen = LlamaCppGenerator(str(embedded_gguf(DEFAULT_MODEL)), n_ctx=512)
    assert gen.extra_buffers is amx_safe()
    text = "".join(gen.stream("<|im_start|>user\nSay hello.<|im_end|>\n<|im_start|>assistant\n",
                              GenerationParams(max_new_tokens=6)))
    assert text.strip()
    question = "<|im_start|>user\nIs water wet? Answer yes or no.<|im_end|>\n<|im_start|>assistant\n"
    yes, no = gen.choice_probabilities(question, ["yes", "no"])
    assert abs(yes + no - 1) < 1e-6 and yes > no


def test_the_installed_build_is_the_one_for_this_cpu_level():
    """tools/install_llama_cpp.py builds for an explicit instruction-set level chosen from this CPU, never AMX:
    a build with more than the CPU has would die with SIGILL, one with AMX kernels crashes on AMX Xeons."""
    import importlib.util
    import platform

    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("the instruction-set levels apply to x86-64 only")
    spec = importlib.util.spec_from_file_location("install_llama_cpp", REPO / "tools" / "install_llama_cpp.py")
    installer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(installer)
    build = llama_build()
    assert "AMX" not in build, build
    for flag in installer.build_flags().split():
        name, _, value = flag.removeprefix("-DGGML_").partition("=")
        if name in ("AVX", "AVX2", "FMA", "F16C", "BMI2", "AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16"):
            assert (f"{name} = 1" in build) == (value == "ON"), (name, build)
