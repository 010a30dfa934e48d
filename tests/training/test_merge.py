import pytest
import torch

from training.merge import main, merge


def test_merged_model_matches_base_plus_adapter(tiny_llama, tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(3)
    lora = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_llama),
                          LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(tmp_path / "adapter")
    out = merge(tmp_path / "adapter", tmp_path / "merged")
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        expected = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_llama), tmp_path / "adapter")(ids).logits
        got = AutoModelForCausalLM.from_pretrained(out)(ids).logits
        base = AutoModelForCausalLM.from_pretrained(tiny_llama)(ids).logits
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(got, base, atol=1e-3)
    assert not any("lora" in k for k in AutoModelForCausalLM.from_pretrained(out).state_dict())


def test_not_an_adapter(tmp_path, capsys):
    assert main(["--adapter", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not a PEFT adapter" in capsys.readouterr().err
