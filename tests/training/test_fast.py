"""Our completion-only loss must be TRL's loss, computed with less work: same value, same optimizer step."""

import pytest
import torch

from tests.training.test_train import tiny_config
from training.train import build_trainer, load_model_and_tokenizer, prepare_data


def make(tiny_llama, tweetsumm_dir, out, trainer, **extra):
    cfg = tiny_config(tiny_llama, tweetsumm_dir, out, trainer=trainer, **extra)
    model, tok, _ = load_model_and_tokenizer(cfg)
    train, valid, _ = prepare_data(cfg, tok)
    return build_trainer(cfg, model, tok, train, valid)


def lora_state(trainer):
    return {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_" in n}


def test_same_loss_on_a_padded_batch(tiny_llama, tweetsumm_dir, tmp_path):
    fast = make(tiny_llama, tweetsumm_dir, tmp_path / "a", "fast")
    plain = make(tiny_llama, tweetsumm_dir, tmp_path / "b", "trl")
    plain.model.load_state_dict(fast.model.state_dict())
    batch = fast.data_collator([fast.train_dataset[i] for i in range(3)])  # unequal lengths: padding
    assert (batch["labels"] == -100).any() and batch["attention_mask"].eq(0).any()
    with torch.no_grad():
        a = fast.compute_loss(fast.model, dict(batch))
        b = plain.compute_loss(plain.model, dict(batch))
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), (a, b)


def test_same_optimizer_step_and_eval_loss(tiny_llama, tweetsumm_dir, tmp_path):
    # lora_dropout 0: the two forwards draw dropout masks in a different order; the objective is the same.
    # SGD, not Adam: Adam turns float noise in near-zero gradients (lora_A while lora_B is still 0) into
    # full-size steps of either sign, so equal objectives would not give comparable weights.
    kw = dict(max_steps=2, batch_size=2, grad_accum=2, learning_rate=1.0, optim="sgd", eval_ratio=1.0, save_ratio=1.0,
              lora_dropout=0.0)
    fast = make(tiny_llama, tweetsumm_dir, tmp_path / "a", "fast", **kw)
    plain = make(tiny_llama, tweetsumm_dir, tmp_path / "b", "trl", **kw)
    plain.model.load_state_dict(fast.model.state_dict())
    fast.train()
    plain.train()
    a, b = lora_state(fast), lora_state(plain)
    moved = [n for n in a if "lora_B" in n]
    assert all(a[n].abs().max() > 1e-4 for n in moved), "the step did not move the LoRA weights"
    assert all(torch.allclose(a[n], b[n], rtol=1e-4, atol=1e-6) for n in a)
    assert fast.evaluate()["eval_loss"] == pytest.approx(plain.evaluate()["eval_loss"], rel=1e-5)
