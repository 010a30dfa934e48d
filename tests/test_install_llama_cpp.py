"""tools/install_llama_cpp.py: the build flags per CPU level and the wheel cache key (no build runs here)."""

import importlib.util

import pytest

from tests.conftest import REPO

V3 = {"sse4_2", "avx", "avx2", "fma", "f16c", "bmi2"}
SAPPHIRE_RAPIDS = V3 | {"avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw", "avx512vbmi", "avx512_vnni",
                        "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"}


@pytest.fixture(scope="module")
def installer():
    spec = importlib.util.spec_from_file_location("install_llama_cpp", REPO / "tools" / "install_llama_cpp.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flags_of(text: str) -> dict[str, str]:
    return dict(f.removeprefix("-D").split("=") for f in text.split())


@pytest.mark.parametrize("cpu", [V3, SAPPHIRE_RAPIDS, {"sse4_2"}])
def test_never_native_never_amx(installer, cpu):
    flags = flags_of(installer.build_flags("x86_64", cpu))
    assert flags["GGML_NATIVE"] == "OFF"
    assert flags["GGML_AMX_TILE"] == flags["GGML_AMX_INT8"] == flags["GGML_AMX_BF16"] == "OFF"


def test_the_level_follows_the_cpu(installer):
    avx2 = flags_of(installer.build_flags("x86_64", V3))
    assert avx2["GGML_AVX2"] == avx2["GGML_FMA"] == "ON" and avx2["GGML_AVX512"] == "OFF"
    spr = flags_of(installer.build_flags("x86_64", SAPPHIRE_RAPIDS))
    assert spr["GGML_AVX512"] == spr["GGML_AVX512_VNNI"] == spr["GGML_AVX512_BF16"] == "ON"
    zen4_no_bf16 = flags_of(installer.build_flags("x86_64", SAPPHIRE_RAPIDS - {"avx512_bf16"}))
    assert zen4_no_bf16["GGML_AVX512"] == "ON" and zen4_no_bf16["GGML_AVX512_BF16"] == "OFF"
    old = flags_of(installer.build_flags("x86_64", {"sse4_2", "avx"}))  # AVX without AVX2: baseline SSE 4.2
    assert old["GGML_AVX"] == old["GGML_AVX2"] == "OFF" and old["GGML_SSE42"] == "ON"
    assert installer.build_flags("aarch64", set()) == "-DLLAVA_BUILD=OFF"


def test_each_flag_set_has_its_own_wheel_folder(installer, tmp_path, monkeypatch):
    monkeypatch.setenv("SUPPORTLENS_CACHE", str(tmp_path))
    v3, v4 = installer.build_flags("x86_64", V3), installer.build_flags("x86_64", SAPPHIRE_RAPIDS)
    assert installer.wheel_dir(v3, "x86_64") != installer.wheel_dir(v4, "x86_64")
    assert installer.wheel_dir(v3, "x86_64") == installer.wheel_dir(v3, "x86_64")
    assert installer.wheel_dir(v3, "x86_64").parent == tmp_path / "wheels"
