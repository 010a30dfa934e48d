"""Adapter -> llama.cpp LoRA GGUF with llama.cpp's own converter (fetched once from PyPI's llama-cpp-python sdist)."""

import pytest
import torch

from assistant.errors import ModelUnavailable
from training.export_gguf import export


def test_not_an_adapter(tmp_path):
    with pytest.raises(ModelUnavailable, match="not a PEFT adapter"):
        export(tmp_path, tmp_path / "a.gguf")


@pytest.mark.real_model
def test_tiny_adapter_exports_to_gguf(tiny_llama, tmp_path):
    from gguf import GGUFReader
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(tmp_path / "adapter")
    out = export(tmp_path / "adapter", tmp_path / "a.gguf", base=str(tiny_llama))
    reader = GGUFReader(out)
    names = [t.name for t in reader.tensors]
    assert len(names) == 2 * 2 * 2  # 2 layers x (q, v) x (A, B)
    assert all(".lora_a" in n or ".lora_b" in n for n in names)
