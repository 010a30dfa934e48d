"""QLoRA / LoRA fine-tuning on TweetSumm with TRL's SFTTrainer.

    python -m training.train --config training/configs/qwen2.5-coder-0.5b-cpu-lora.yaml
    python -m training.train --config training/configs/llama2-7b-chat-qlora.yaml output_dir=runs/llama2
    python -m training.train --config ... --resume          # continue a killed run from its last checkpoint
    python -m training.train --config ... init_adapter=models/qwen2.5-coder-0.5b-tweetsumm-lora   # train it further

The run folder (``output_dir``) receives: ``checkpoint-*`` (resume points), ``adapter/`` (the best
checkpoint by validation loss), ``config.yaml`` (resolved), ``prompt_template.json``,
``data_fingerprint.json``, ``metrics.jsonl`` (train/validation loss, learning rate, tokens/s, memory)
and ``plots/*.png``. Examples are tokenized here, prompt and summary separately, so the loss mask
covers exactly the summary tokens and no second BOS sneaks in.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from assistant.errors import ConfigError, SupportLensError
from training.config import TrainConfig, load_train_config


def tokenize_examples(examples: list[Any], tokenizer: Any, max_length: int) -> dict[str, list]:
    """``input_ids`` and ``completion_mask`` columns (1 on summary tokens), dropping over-long examples."""
    ids, masks = [], []
    for ex in examples:
        p = tokenizer(ex.prompt, add_special_tokens=False)["input_ids"]
        c = tokenizer(ex.completion, add_special_tokens=False)["input_ids"]
        if len(p) + len(c) <= max_length:
            ids.append(p + c)
            masks.append([0] * len(p) + [1] * len(c))
    return {"input_ids": ids, "completion_mask": masks}


def fingerprint(columns: dict[str, list]) -> str:
    """sha256 over the token ids and masks: two runs with equal fingerprints saw the same data."""
    h = hashlib.sha256()
    for row, mask in zip(columns["input_ids"], columns["completion_mask"]):
        h.update(json.dumps([row, mask]).encode())
    return h.hexdigest()


def load_model_and_tokenizer(cfg: TrainConfig) -> tuple[Any, Any, str]:
    """Base model (4-bit NF4 + double quantization when ``load_in_4bit``), its tokenizer, and its path."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    from assistant.models import resolve_model

    path = resolve_model(cfg.model, "transformers").path
    cuda = torch.cuda.is_available()
    compute = torch.bfloat16 if cfg.bf16 else torch.float32
    kwargs: dict[str, Any] = {"dtype": compute}
    # Under an accelerate FSDP launch the 4-bit weights live in float containers FSDP can shard, and FSDP
    # places them; otherwise each process puts the whole model on its own device (DDP or single device).
    fsdp = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
    if cfg.load_in_4bit:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute,
            bnb_4bit_quant_storage=compute if fsdp else torch.uint8,
        )
        if not fsdp:
            kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0")) if cuda else "cpu"}
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if cfg.load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, path


def lora_layers(cfg: TrainConfig, model: Any) -> list[int] | None:
    """The decoder layers the recipe adapts: the top ``lora_top_layers``, or None for all."""
    if not cfg.lora_top_layers:
        return None
    n = model.config.num_hidden_layers
    return list(range(max(0, n - cfg.lora_top_layers), n))


def start_from_adapter(model: Any, cfg: TrainConfig) -> Any:
    """``model`` wrapped with the trainable LoRA weights of ``cfg.init_adapter``; a recipe whose LoRA shape
    differs from the adapter's is refused (the run's config.yaml would describe another adapter)."""
    from peft import PeftConfig, PeftModel

    from assistant.models import resolve_adapter

    path = Path(resolve_adapter(cfg.init_adapter, cfg.model, "transformers") or cfg.init_adapter)  # a run folder: its adapter/
    if not (path / "adapter_config.json").is_file():
        raise ConfigError(f"init_adapter {cfg.init_adapter}: no adapter_config.json there (give a PEFT adapter folder or a run folder)")
    have = PeftConfig.from_pretrained(str(path))
    want = {"r": cfg.lora_r, "lora_alpha": cfg.lora_alpha, "target_modules": sorted(cfg.lora_targets),
            "layers": lora_layers(cfg, model)}
    got = {"r": have.r, "lora_alpha": have.lora_alpha, "target_modules": sorted(have.target_modules or []),
           "layers": list(have.layers_to_transform) if have.layers_to_transform is not None else None}
    differ = [f"{k}: recipe {want[k]}, adapter {got[k]}" for k in want if want[k] != got[k]]
    if differ:
        raise ConfigError(f"init_adapter {path} does not match the recipe's LoRA ({'; '.join(differ)})")
    return PeftModel.from_pretrained(model, str(path), is_trainable=True)


def build_trainer(cfg: TrainConfig, model: Any, tokenizer: Any, train_cols: dict, eval_cols: dict,
                  callbacks: list | None = None) -> Any:
    """An SFTTrainer with a LoRA ``peft_config`` and our metrics callback."""
    import importlib.util

    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from training.metrics import MetricsCallback

    cuda = torch.cuda.is_available()
    args = SFTConfig(
        output_dir=cfg.output_dir, num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum, optim=cfg.optim, learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup_ratio, max_grad_norm=cfg.max_grad_norm,
        eval_strategy="steps", eval_steps=cfg.eval_ratio, save_strategy="steps", save_steps=cfg.save_ratio,
        logging_steps=cfg.logging_steps, logging_first_step=True, save_total_limit=cfg.save_total_limit,
        load_best_model_at_end=True, metric_for_best_model="eval_loss", greater_is_better=False,
        seed=cfg.seed, bf16=cfg.bf16, use_cpu=not cuda, activation_checkpointing=cfg.gradient_checkpointing,
        completion_only_loss=True, max_length=cfg.max_length, packing=False,
        include_num_input_tokens_seen="non_padding",
        report_to=["tensorboard"] if importlib.util.find_spec("tensorboard") else "none", prediction_loss_only=True,
        dataloader_num_workers=0, disable_tqdm=False,
    )
    peft_config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                             target_modules=list(cfg.lora_targets), layers_to_transform=lora_layers(cfg, model),
                             task_type="CAUSAL_LM")
    if hasattr(model, "peft_config"):  # already a PeftModel (benchmarks share one between trainers)
        peft_config = None
    trainer_cls = SFTTrainer
    if cfg.trainer == "fast":
        from training.fast import CompletionOnlyLossTrainer as trainer_cls  # noqa: N813
    return trainer_cls(model=model, args=args, train_dataset=Dataset.from_dict(train_cols),
                      eval_dataset=Dataset.from_dict(eval_cols), processing_class=tokenizer,
                      peft_config=peft_config,
                      callbacks=[MetricsCallback(Path(cfg.output_dir) / "metrics.jsonl"), *(callbacks or [])])


def prepare_data(cfg: TrainConfig, tokenizer: Any) -> tuple[dict, dict, dict[str, Any]]:
    """Tokenized train/validation columns and the prompt description saved with the run."""
    from assistant.prompts import (
        CHAT_RESPONSE_PREFIX, SUMMARY_INSTRUCTION, SUMMARY_SYSTEM_PROMPT, default_format,
    )
    from training.data import build_examples
    from training.tweetsumm import load_split

    template = getattr(tokenizer, "chat_template", None)
    fmt = default_format(cfg.model, template is not None) if cfg.prompt_format == "auto" else cfg.prompt_format
    special = {"bos_token": tokenizer.bos_token or "", "eos_token": tokenizer.eos_token or ""}
    train = list(build_examples(load_split("train", cfg.data_dir, cfg.limit_train), fmt, targets=cfg.targets, template=template, **special))
    valid = list(build_examples(load_split("valid", cfg.data_dir, cfg.limit_eval), fmt, targets="first", template=template, **special))
    prompt_info = {
        "format": fmt, "system_prompt": SUMMARY_SYSTEM_PROMPT, "instruction": SUMMARY_INSTRUCTION,
        "chat_template": template if fmt == "chat_template" else None,
        "inference_response_prefix": "" if fmt == "llama2" else CHAT_RESPONSE_PREFIX,
        "example_prompt": train[0].prompt if train else "", "example_completion": train[0].completion if train else "",
    }
    return (tokenize_examples(train, tokenizer, cfg.max_length), tokenize_examples(valid, tokenizer, cfg.max_length), prompt_info)


def check_same_data(out: Path, train_cols: dict) -> None:
    """Refuse to resume a run on other training data than it started with (the code that builds it changed, or
    the data folder): the checkpoints would continue on examples the run's records do not describe."""
    try:
        before = json.loads((out / "data_fingerprint.json").read_text())["train"]["sha256"]
    except (OSError, ValueError, KeyError):
        return
    if before != fingerprint(train_cols):
        raise SupportLensError(f"{out} was trained on other data than this code and data folder build now (the "
                               "training examples' fingerprint differs): resume with the code it started with, or "
                               "start a new output_dir")


def write_run_files(cfg: TrainConfig, out: Path, prompt_info: dict, train_cols: dict, eval_cols: dict) -> None:
    """Resolved config, prompt template and data fingerprint, written before training starts."""
    import yaml

    out.mkdir(parents=True, exist_ok=True)
    if "data_card" in prompt_info:
        (out / "DATA_CARD.md").write_text(prompt_info.pop("data_card"))
    (out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    (out / "prompt_template.json").write_text(json.dumps(prompt_info, indent=2, ensure_ascii=False))
    stats = {split: {"examples": len(cols["input_ids"]), "tokens": sum(map(len, cols["input_ids"])),
                     "target_tokens": sum(map(sum, cols["completion_mask"])), "sha256": fingerprint(cols)}
             for split, cols in (("train", train_cols), ("valid", eval_cols))}
    (out / "data_fingerprint.json").write_text(json.dumps(stats, indent=2))


def run(cfg: TrainConfig, resume: bool = False, callbacks: list | None = None) -> Path:
    """Train, keep the best checkpoint as ``adapter/``, write metrics and plots; returns the run folder."""
    import torch

    from training.metrics import plot_metrics

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.output_dir)
    has_checkpoint = any(out.glob("checkpoint-*"))
    if out.exists() and has_checkpoint and not resume:
        raise SupportLensError(f"{out} already holds checkpoints: pass --resume to continue, or choose another output_dir")
    model, tokenizer, _ = load_model_and_tokenizer(cfg)
    if cfg.init_adapter:
        model = start_from_adapter(model, cfg)
    train_cols, eval_cols, prompt_info = prepare_data(cfg, tokenizer)
    if not train_cols["input_ids"] or not eval_cols["input_ids"]:
        raise SupportLensError("No training or validation examples: check data_dir, limit_train and max_length.")
    if resume and has_checkpoint:
        check_same_data(out, train_cols)
    write_run_files(cfg, out, prompt_info, train_cols, eval_cols)
    trainer = build_trainer(cfg, model, tokenizer, train_cols, eval_cols, callbacks)
    trainer.train(resume_from_checkpoint=True if (resume and has_checkpoint) else None)
    trainer.save_model(str(out / "adapter"))  # the best checkpoint (load_best_model_at_end)
    tokenizer.save_pretrained(out / "adapter")
    summary = {"best_checkpoint": trainer.state.best_model_checkpoint, "best_eval_loss": trainer.state.best_metric,
               "global_step": trainer.state.global_step}
    (out / "adapter" / "training_summary.json").write_text(json.dumps(summary, indent=2))
    plot_metrics(out / "metrics.jsonl", out / "plots")
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m training.train --config FILE [--resume] [key=value ...]``."""
    parser = argparse.ArgumentParser(description="Fine-tune a model on TweetSumm with (Q)LoRA.")
    parser.add_argument("--config", required=True, help="training YAML recipe (training/configs/*.yaml)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in output_dir")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of the recipe, e.g. learning_rate=1e-4")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        cfg = load_train_config(args.config, args.overrides)
        out = run(cfg, resume=args.resume)
    except SupportLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"done: adapter in {out / 'adapter'}, metrics and plots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
