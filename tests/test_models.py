import hashlib
import json

import pytest

from assistant import models
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
