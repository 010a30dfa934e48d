"""Typed fine-tuning configuration, loaded from a YAML recipe with ``key=value`` command-line overrides."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from assistant.config import coerce_field
from assistant.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    """A QLoRA/LoRA supervised fine-tuning run on TweetSumm summaries (the audit judge: training.encoder_judge)."""

    # what to train
    model: str = field(default="qwen2.5-coder-0.5b-instruct", metadata={"help": "Embedded model name, local folder or hub id."})
    prompt_format: str = field(default="auto", metadata={"help": "auto, llama2 (the seed's) or chat_template."})
    targets: str = field(default="first", metadata={"help": "first abstractive summary (the seed's) or all of them."})
    data_dir: str | None = field(default=None, metadata={"help": "TweetSumm folder (default $SUPPORTLENS_TWEETSUMM or ../shared)."})
    limit_train: int | None = field(default=None, metadata={"help": "Use only the first N training dialogs (quick runs)."})
    limit_eval: int | None = field(default=None, metadata={"help": "Use only the first N validation dialogs for evaluation."})
    max_length: int = field(default=1024, metadata={"help": "Longest prompt+summary in tokens; longer examples are dropped (none in TweetSumm)."})
    trainer: str = field(default="fast", metadata={"help": "fast (LM head on summary positions only; see training/fast.py) or trl (plain SFTTrainer)."})
    # quantization and adapter
    load_in_4bit: bool = field(default=False, metadata={"help": "QLoRA: 4-bit NF4 base weights with double quantization (bitsandbytes)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (scale = alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA input."})
    lora_top_layers: int = field(default=0, metadata={"help": "Adapt only the top N decoder layers (0: all). Backpropagation stops at the lowest adapted layer, so a step costs much less."})
    lora_targets: tuple[str, ...] = field(default=("q_proj", "k_proj", "v_proj", "o_proj"), metadata={"help": "Module names that get LoRA adapters."})
    init_adapter: str | None = field(default=None, metadata={"help": "Start from this LoRA adapter's weights (a PEFT folder or a run folder) instead of a fresh one: train an adapter further. Its rank, alpha, targets and layers must match the recipe's."})
    # optimisation (the seed's recipe by default)
    epochs: float = field(default=3.0, metadata={"help": "Passes over the training set."})
    batch_size: int = field(default=8, metadata={"help": "Examples per device step."})
    grad_accum: int = field(default=1, metadata={"help": "Gradient accumulation steps (effective batch = batch_size x grad_accum x devices)."})
    optim: str = field(default="paged_adamw_32bit", metadata={"help": "transformers optimizer name (paged_* need CUDA; adamw_torch on CPU)."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak learning rate."})
    lr_scheduler: str = field(default="constant", metadata={"help": "transformers scheduler name."})
    warmup_ratio: float = field(default=0.03, metadata={"help": "Fraction of steps for linear warm-up."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many optimizer steps (-1: run all epochs)."})
    eval_ratio: float = field(default=0.1, metadata={"help": "Evaluate every this fraction of training (the seed: 10%)."})
    logging_steps: int = field(default=20, metadata={"help": "Log training loss every N steps (the seed: 20)."})
    save_ratio: float = field(default=0.1, metadata={"help": "Checkpoint every this fraction of training (resume point)."})
    save_total_limit: int = field(default=3, metadata={"help": "Checkpoints kept (the best by validation loss is always kept)."})
    seed: int = field(default=42, metadata={"help": "Random seed."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Trade compute for memory (GPU recipes)."})
    bf16: bool = field(default=False, metadata={"help": "bf16 compute (GPUs; unusably slow on our CPUs)."})
    # where
    output_dir: str = field(default="runs/train/run", metadata={"help": "Run folder: checkpoints, adapter, metrics, plots."})
    threads: int | None = field(default=None, metadata={"help": "CPU threads (default: all cores)."})

    def __post_init__(self) -> None:
        problems = []
        if self.prompt_format not in ("auto", "llama2", "chat_template"):
            problems.append(f"prompt_format {self.prompt_format!r}: use auto, llama2 or chat_template")
        if self.trainer not in ("fast", "trl"):
            problems.append(f"trainer {self.trainer!r}: use fast or trl")
        if self.targets not in ("first", "all"):
            problems.append(f"targets {self.targets!r}: use first or all")
        for name in ("lora_r", "lora_alpha", "batch_size", "grad_accum", "logging_steps", "max_length"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1")
        for name in ("eval_ratio", "save_ratio"):
            if not 0 < getattr(self, name) <= 1:
                problems.append(f"{name} must be in (0, 1]")
        if self.lora_top_layers < 0:
            problems.append("lora_top_layers must be 0 (all layers) or more")
        if not 0 <= self.lora_dropout < 1:
            problems.append("lora_dropout must be in [0, 1)")
        if self.learning_rate <= 0:
            problems.append("learning_rate must be positive")
        if self.epochs <= 0 and self.max_steps <= 0:
            problems.append("set epochs > 0 or max_steps > 0")
        if not self.lora_targets:
            problems.append("lora_targets must name at least one module")
        if problems:
            raise ConfigError("Invalid training config:\n- " + "\n- ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists for tuples), as written to the run folder."""
        data = asdict(self)
        data["lora_targets"] = list(self.lora_targets)
        return data


def load_train_config(path: str | Path | None, overrides: list[str] | dict[str, Any] | None = None) -> TrainConfig:
    """A TrainConfig from a YAML recipe, then ``key=value`` overrides (strings) or a dict."""
    import yaml

    data: dict[str, Any] = {}
    if path:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"Cannot read training config {path}: {exc}") from exc
    if isinstance(overrides, dict):
        data.update(overrides)
    else:
        for item in overrides or []:
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"Override {item!r} must look like key=value")
            data[key.strip().replace("-", "_")] = value
    kinds = {f.name: str(f.type) for f in fields(TrainConfig)}
    unknown = sorted(set(data) - set(kinds))
    if unknown:
        raise ConfigError(f"Unknown training config keys: {', '.join(unknown)}")
    return TrainConfig(**{k: coerce_field(kinds[k], k, v) for k, v in data.items()})
