import hashlib
import json
import re

import numpy as np
import pytest

from assistant import models
from assistant.models import DEFAULT_MODEL, SHIPPED_ADAPTERS, resolve_adapter
from assistant.errors import ModelUnavailable


def make_parts(tmp_path, chunks):
    paths = []
    for i, data in enumerate(chunks, start=1):
        p = tmp_path / f"part{i:02d}.bin"
        p.write_bytes(data)
        paths.append(p)
    return paths


def test_assemble_verifies_and_stamps(tmp_path):
    parts = make_parts(tmp_path, [b"GGUF" + b"a" * 10, b"b" * 7, b"c"])
    digest = hashlib.sha256(b"GGUFaaaaaaaaaabbbbbbbc").hexdigest()
    seen = []
    out = models.assemble_parts(parts, tmp_path / "m" / "model.gguf", digest, lambda d, t: seen.append((d, t)))
    assert out.read_bytes() == b"GGUFaaaaaaaaaabbbbbbbc"
    assert seen[-1] == (22, 22)
    stamp = json.loads((tmp_path / "m" / "model.gguf.verified.json").read_text())
    assert stamp["sha256"] == digest and stamp["size"] == 22
    # second call trusts the stamp: it does not read the parts again
    for p in parts:
        p.unlink()
    assert models.assemble_parts(parts, out, digest) == out


def test_checksum_mismatch_leaves_nothing(tmp_path):
    parts = make_parts(tmp_path, [b"abc", b"def"])
    with pytest.raises(ModelUnavailable, match="Checksum mismatch"):
        models.assemble_parts(parts, tmp_path / "out" / "model.gguf", "0" * 64)
    assert list((tmp_path / "out").iterdir()) == []


def test_tampered_file_is_reassembled(tmp_path):
    parts = make_parts(tmp_path, [b"abc", b"def"])
    digest = hashlib.sha256(b"abcdef").hexdigest()
    out = models.assemble_parts(parts, tmp_path / "model.gguf", digest)
    out.write_bytes(b"abcdeX!")  # size/mtime change invalidates the stamp
    assert models.assemble_parts(parts, out, digest).read_bytes() == b"abcdef"


def test_missing_package_names_the_install_command():
    fake = models.EmbeddedModel("x", ("no_such_package_supportlens",), "part{i:02d}.bin", "x.gguf", "0" * 64, "pip install -e .")
    with pytest.raises(ModelUnavailable, match="pip install -e ."):
        models.part_paths(fake)


def test_resolve_model_sources(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert models.resolve_model(str(gguf), "llamacpp").kind == "gguf"
    assert models.resolve_model(str(tmp_path), "transformers").path == str(tmp_path)
    assert models.resolve_model("meta-llama/Llama-2-7b-chat-hf", "transformers").path == "meta-llama/Llama-2-7b-chat-hf"
    with pytest.raises(ModelUnavailable, match="needs a .gguf"):
        models.resolve_model("meta-llama/Llama-2-7b-chat-hf", "llamacpp")
    with pytest.raises(ModelUnavailable, match="not found"):
        models.resolve_model(str(tmp_path / "missing.gguf"), "llamacpp")
    with pytest.raises(ModelUnavailable, match="Unknown embedded model"):
        models.embedded_gguf("nope")


def test_embedded_parts_are_installed():
    parts = models.part_paths(models.EMBEDDED[models.DEFAULT_MODEL])
    assert len(parts) == 6 and all(p.stat().st_size > 0 for p in parts)


def test_auto_adapter_is_the_shipped_one_for_each_backend():
    shipped = SHIPPED_ADAPTERS[DEFAULT_MODEL]
    assert resolve_adapter("auto", DEFAULT_MODEL, "llamacpp") == str(shipped / "adapter.gguf")
    assert resolve_adapter("auto", DEFAULT_MODEL, "transformers") == str(shipped / "adapter")
    assert resolve_adapter("auto", "meta-llama/Llama-2-7b-chat-hf", "transformers") is None  # no shipped adapter
    assert resolve_adapter("auto", DEFAULT_MODEL, "openai") is None
    for off in ("none", "None", None):
        assert resolve_adapter(off, DEFAULT_MODEL, "llamacpp") is None


def test_run_folder_adapter_needs_its_gguf_export_for_llamacpp(tmp_path):
    run = tmp_path / "run"
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_config.json").write_text("{}")
    assert resolve_adapter(str(run), DEFAULT_MODEL, "transformers") == str(run / "adapter")
    with pytest.raises(ModelUnavailable, match="training.export_gguf"):
        resolve_adapter(str(run), DEFAULT_MODEL, "llamacpp")
    with pytest.raises(ModelUnavailable, match="as .gguf"):
        resolve_adapter(str(run / "adapter" / "adapter_config.json"), DEFAULT_MODEL, "llamacpp")
    with pytest.raises(ModelUnavailable, match="not found"):
        resolve_adapter(str(tmp_path / "nope.gguf"), DEFAULT_MODEL, "llamacpp")
    with pytest.raises(ModelUnavailable, match="openai backend"):
        resolve_adapter(str(run), DEFAULT_MODEL, "openai")


def test_shipped_gguf_holds_the_same_lora_as_the_peft_adapter():
    """adapter.gguf is an export of adapter/: same tensors (f16), same alpha. Re-export after retraining."""
    import gguf
    from safetensors.numpy import load_file

    shipped = SHIPPED_ADAPTERS[DEFAULT_MODEL]
    reader = gguf.GGUFReader(shipped / "adapter.gguf")
    assert reader.fields["adapter.type"].contents() == "lora"
    config = json.loads((shipped / "adapter" / "adapter_config.json").read_text())
    assert reader.fields["adapter.lora.alpha"].contents() == config["lora_alpha"]
    in_gguf = {t.name: t.data for t in reader.tensors}
    peft = load_file(shipped / "adapter" / "adapter_model.safetensors")
    assert len(in_gguf) == len(peft)
    names = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
             "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}
    for name, value in peft.items():
        m = re.match(r"base_model\.model\.model\.layers\.(\d+)\.\w+\.(\w+)\.lora_([AB])\.weight", name)
        assert m, name
        key = f"blk.{m[1]}.{names[m[2]]}.weight.lora_{m[3].lower()}"
        np.testing.assert_array_equal(in_gguf[key], value)
