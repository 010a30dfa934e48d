"""The real (Q)LoRA training path on a tiny random-weight Llama built in-process (CPU, seconds)."""

from pathlib import Path

import pytest
import torch

from training.config import load_train_config
from training.train import build_trainer, load_model_and_tokenizer, prepare_data, run

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "training" / "configs").glob("*.yaml"))


def tiny_config(tiny_llama, tweetsumm_dir, out, **extra):
    base = dict(model=str(tiny_llama), data_dir=str(tweetsumm_dir), limit_train=8, limit_eval=4, max_length=4096,
                batch_size=2, grad_accum=1, epochs=1, optim="adamw_torch", learning_rate=1e-2, lr_scheduler="constant",
                warmup_ratio=0.0, eval_ratio=0.5, save_ratio=0.5, logging_steps=1, lora_r=4, lora_alpha=8,
                output_dir=str(out), seed=7)
    base.update(extra)
    return load_train_config(None, base)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_shipped_recipe_loads(path):
    cfg = load_train_config(path)
    assert cfg.output_dir and cfg.lora_targets
    assert path.read_text().startswith("#"), "each recipe opens with a comment giving its needs and command"
    assert "python -m training.train --config" in path.read_text()


def test_seed_recipe_matches_the_report():
    cfg = load_train_config(next(p for p in CONFIGS if p.stem == "llama2-7b-chat-qlora"))
    assert (cfg.epochs, cfg.batch_size, cfg.grad_accum, cfg.optim, cfg.learning_rate) == (3, 8, 1, "paged_adamw_32bit", 2e-4)
    assert (cfg.eval_ratio, cfg.logging_steps, cfg.max_grad_norm, cfg.load_in_4bit) == (0.1, 20, 1.0, True)
    assert cfg.prompt_format == "llama2"


def test_overrides_and_validation():
    from assistant.errors import ConfigError

    cfg = load_train_config(CONFIGS[0], ["learning_rate=1e-4", "lora_targets=q_proj,v_proj", "load_in_4bit=false"])
    assert cfg.learning_rate == 1e-4 and cfg.lora_targets == ("q_proj", "v_proj") and not cfg.load_in_4bit
    with pytest.raises(ConfigError) as info:
        load_train_config(None, {"lora_r": 0, "eval_ratio": 2, "targets": "some"})
    assert "lora_r" in str(info.value) and "eval_ratio" in str(info.value) and "targets" in str(info.value)
    with pytest.raises(ConfigError, match="Unknown"):
        load_train_config(None, ["lora_rank=8"])


def test_completion_mask_covers_the_summary_only(tiny_llama, tweetsumm_dir, tmp_path):
    cfg = tiny_config(tiny_llama, tweetsumm_dir, tmp_path)
    _, tok, _ = load_model_and_tokenizer(cfg)
    train, _, info = prepare_data(cfg, tok)
    ids, mask = train["input_ids"][0], train["completion_mask"][0]
    target = tok.decode([i for i, m in zip(ids, mask) if m])
    assert target == info["example_completion"]  # summary + end of turn, nothing of the prompt
    assert tok.decode(ids[: mask.index(1)]) == info["example_prompt"]
    assert not tok.decode(ids).startswith(tok.bos_token * 2)


def test_qlora_steps_change_lora_weights_only(tiny_llama, tweetsumm_dir, tmp_path):
    import bitsandbytes as bnb

    cfg = tiny_config(tiny_llama, tweetsumm_dir, tmp_path, load_in_4bit=True, max_steps=3)
    model, tok, _ = load_model_and_tokenizer(cfg)
    train, valid, _ = prepare_data(cfg, tok)
    trainer = build_trainer(cfg, model, tok, train, valid)
    peft_model = trainer.model
    quantized = {n: m.weight.data.clone() for n, m in peft_model.named_modules() if isinstance(m, bnb.nn.Linear4bit)}
    assert quantized, "the base model is not 4-bit"
    lora = {n: p.detach().clone() for n, p in peft_model.named_parameters() if "lora_" in n}
    assert lora and all(p.requires_grad for n, p in peft_model.named_parameters() if "lora_" in n)
    trainer.train()
    after = dict(peft_model.named_parameters())
    assert all(not torch.equal(lora[n], after[n].detach()) for n in lora if "lora_B" in n), "LoRA B weights did not move"
    now = {n: m.weight.data for n, m in peft_model.named_modules() if isinstance(m, bnb.nn.Linear4bit)}
    assert all(torch.equal(quantized[n], now[n]) for n in quantized), "a frozen 4-bit base weight changed"
    assert all(not p.requires_grad for n, p in peft_model.named_parameters() if "lora_" not in n)


class Crash(Exception):
    pass


def test_killed_run_resumes_from_its_checkpoint(tiny_llama, tweetsumm_dir, tmp_path):
    from transformers import TrainerCallback

    class CrashAtStep3(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise Crash()

    cfg = tiny_config(tiny_llama, tweetsumm_dir, tmp_path / "run", max_steps=4)
    with pytest.raises(Crash):
        run(cfg, callbacks=[CrashAtStep3()])
    assert (tmp_path / "run" / "checkpoint-2").is_dir()
    from assistant.errors import SupportLensError

    with pytest.raises(SupportLensError, match="--resume"):
        run(cfg)
    with pytest.raises(SupportLensError, match="other data"):  # the data changed since the run started
        run(tiny_config(tiny_llama, tweetsumm_dir, tmp_path / "run", max_steps=4, limit_train=7), resume=True)
    out = run(cfg, resume=True)
    import json

    summary = json.loads((out / "adapter" / "training_summary.json").read_text())
    assert summary["global_step"] == 4 and summary["best_eval_loss"] is not None
    assert (out / "adapter" / "adapter_config.json").is_file()
    steps = [r["step"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
    assert steps.count(4) == 1 and 3 in steps
    assert {p.name for p in (out / "plots").glob("*.png")} >= {"training_loss.png", "validation_loss.png", "memory.png"}
    for name in ("config.yaml", "prompt_template.json", "data_fingerprint.json"):
        assert (out / name).is_file()


def test_trained_adapter_serves_through_the_backend(tiny_llama, tweetsumm_dir, tmp_path):
    from assistant.backends.base import GenerationParams, generate
    from assistant.backends.transformers_backend import TransformersGenerator

    out = run(tiny_config(tiny_llama, tweetsumm_dir, tmp_path / "r", max_steps=2))
    gen = TransformersGenerator(str(tiny_llama), device="cpu", adapter=str(out / "adapter"))
    assert isinstance(generate(gen, "hello", GenerationParams(max_new_tokens=4)), str)


def test_accelerate_fsdp_config_is_valid_yaml():
    import yaml

    path = Path(__file__).resolve().parents[2] / "training" / "accelerate" / "fsdp_qlora.yaml"
    cfg = yaml.safe_load(path.read_text())
    assert cfg["distributed_type"] == "FSDP" and cfg["fsdp_config"]["fsdp_cpu_ram_efficient_loading"] is True
    assert "accelerate launch --config_file training/accelerate/fsdp_qlora.yaml" in path.read_text()


def test_shipped_adapter_is_complete_and_improved():
    import json

    root = Path(__file__).resolve().parents[2] / "models" / "qwen2.5-coder-0.5b-tweetsumm-lora"
    cfg = json.loads((root / "adapter" / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == "qwen2.5-coder-0.5b-instruct" and cfg["r"] == 16
    assert (root / "adapter" / "adapter_model.safetensors").stat().st_size < 6 * 2**20
    evals = [r["eval_loss"] for r in map(json.loads, (root / "metrics.jsonl").read_text().splitlines()) if "eval_loss" in r]
    assert min(evals) < evals[0] - 0.2
    assert {p.name for p in (root / "plots").glob("*.png")} == {"training_loss.png", "validation_loss.png", "memory.png"}


@pytest.mark.real_model
def test_shipped_adapter_loads_on_the_embedded_model():
    from assistant.backends.transformers_backend import TransformersGenerator

    root = Path(__file__).resolve().parents[2] / "models" / "qwen2.5-coder-0.5b-tweetsumm-lora" / "adapter"
    from assistant.models import embedded_hf_dir

    gen = TransformersGenerator(str(embedded_hf_dir()), device="cpu", adapter=str(root))
    assert gen.model_name.endswith("+adapter")


def test_lora_top_layers_adapts_only_the_top_layers(tiny_llama, tweetsumm_dir, tmp_path):
    cfg = tiny_config(tiny_llama, tweetsumm_dir, tmp_path, lora_top_layers=1, max_steps=1)
    model, tok, _ = load_model_and_tokenizer(cfg)
    train, valid, _ = prepare_data(cfg, tok)
    trainer = build_trainer(cfg, model, tok, train, valid)
    adapted = {n for n, _ in trainer.model.named_parameters() if "lora_" in n}
    assert adapted and all(".layers.1." in n for n in adapted)  # the tiny model has layers 0 and 1


def test_init_adapter_continues_from_its_weights(tiny_llama, tweetsumm_dir, tmp_path):
    from safetensors.torch import load_file

    from assistant.errors import ConfigError

    first = run(tiny_config(tiny_llama, tweetsumm_dir, tmp_path / "first", max_steps=2))
    saved = load_file(first / "adapter" / "adapter_model.safetensors")
    assert any(("lora_B" in k) and v.abs().sum() > 0 for k, v in saved.items())  # trained: B left zero

    cfg = tiny_config(tiny_llama, tweetsumm_dir, tmp_path / "second", max_steps=1, init_adapter=str(first))
    model, tok, _ = load_model_and_tokenizer(cfg)
    from training.train import start_from_adapter

    model = start_from_adapter(model, cfg)
    params = dict(model.named_parameters())
    for key, value in saved.items():  # the run starts from the saved weights, and they train
        name = next(n for n in params if n.startswith(key.removesuffix(".weight")) and n.endswith(".weight"))
        assert torch.equal(params[name].detach(), value.to(params[name].dtype)) and params[name].requires_grad
    out = run(cfg)
    after = load_file(out / "adapter" / "adapter_model.safetensors")
    assert after.keys() == saved.keys() and any(not torch.equal(after[k], saved[k]) for k in saved)

    with pytest.raises(ConfigError, match="r: recipe 8, adapter 4"):
        start_from_adapter(model, tiny_config(tiny_llama, tweetsumm_dir, tmp_path / "x", lora_r=8, init_adapter=str(first)))
    with pytest.raises(ConfigError, match="no adapter_config.json"):
        start_from_adapter(model, tiny_config(tiny_llama, tweetsumm_dir, tmp_path / "x", init_adapter=str(tmp_path)))
