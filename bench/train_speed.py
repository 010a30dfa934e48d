"""Training throughput of our trainer vs plain TRL SFTTrainer on the same model and data, same process.

    python bench/train_speed.py [--model qwen2.5-coder-0.5b-instruct] [--steps 4]

Systems (LoRA r=16 on q/k/v/o, fp32, CPU), each fed the same TweetSumm training examples:
  plain TRL, batch B     SFTTrainer with B examples a step padded to the longest (B=8 is the seed's recipe)
  plain TRL, batch 1     SFTTrainer with one example a step (no padding), to isolate the loss change
  ours (trainer: fast)   one example a step, LM head applied to summary positions only (training/fast.py)
Each measured unit is forward + backward over the same 8 examples (one optimizer step's worth), units
alternate between systems so machine noise hits all alike. Throughput counts real (non-padding) tokens.
The loss equality of ours and TRL's is a test (tests/training/test_fast.py), not measured here.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.config import load_train_config  # noqa: E402
from training.train import build_trainer, load_model_and_tokenizer, prepare_data  # noqa: E402


def make(cfg_overrides: dict, model, tok, out: Path):  # noqa: ANN001, ANN201 - a Trainer
    """A trainer over the first 64 training dialogs, sharing ``model`` (one copy in memory for all systems)."""
    cfg = load_train_config(None, dict(limit_train=64, limit_eval=2, optim="adamw_torch", lora_dropout=0.0,
                                       output_dir=str(out), max_steps=1, **cfg_overrides))
    train, valid, _ = prepare_data(cfg, tok)
    return build_trainer(cfg, model, tok, train, valid)


def unit(trainer, start: int) -> tuple[float, int]:  # noqa: ANN001
    """Seconds and real tokens for forward+backward over examples [start, start+8)."""
    model = trainer.model
    model.train()
    bs = trainer.args.per_device_train_batch_size
    rows = [trainer.train_dataset[i] for i in range(start, start + 8)]
    batches = [trainer.data_collator(rows[i:i + bs]) for i in range(0, 8, bs)]
    n_items = sum(int((b["labels"] != -100).sum()) for b in batches)
    tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    t0 = time.perf_counter()
    for b in batches:
        loss = trainer.compute_loss(model, dict(b), num_items_in_batch=n_items)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - t0, tokens


def main() -> None:
    """Print tokens/s of each system and the ratios against plain TRL."""
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--steps", type=int, default=4, help="measured units per system (8 examples each)")
    parser.add_argument("--batch", type=int, default=8, choices=[2, 4, 8],
                        help="plain TRL's padded batch (8 is the seed's; it needs ~20 GB of RAM with a 0.5B model)")
    args = parser.parse_args()
    torch.manual_seed(0)
    tmp = Path("runs/bench-train")
    from peft import LoraConfig, get_peft_model

    base_cfg = load_train_config(None, dict(model=args.model, output_dir=str(tmp)))
    model, tok, _ = load_model_and_tokenizer(base_cfg)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    systems = {
        f"plain TRL, batch {args.batch}": make(dict(model=args.model, trainer="trl", batch_size=args.batch,
                                                  grad_accum=8 // args.batch), model, tok, tmp / "a"),
        "plain TRL, batch 1": make(dict(model=args.model, trainer="trl", batch_size=1, grad_accum=8), model, tok, tmp / "b"),
        "ours (trainer: fast)": make(dict(model=args.model, trainer="fast", batch_size=1, grad_accum=8), model, tok, tmp / "c"),
    }
    for t in systems.values():
        unit(t, 0)  # warm-up
    times = {k: [] for k in systems}
    toks = {k: 0 for k in systems}
    for step in range(args.steps):
        order = list(systems) if step % 2 == 0 else list(reversed(systems))
        for name in order:
            sec, n = unit(systems[name], 8 * (step + 1))
            times[name].append(sec)
            toks[name] += n
    ref = sum(times[f"plain TRL, batch {args.batch}"])
    print(f"{args.model}, LoRA r=16 q/k/v/o, fp32, {torch.get_num_threads()} threads, {args.steps} x 8 examples each")
    for name in systems:
        tps = toks[name] / sum(times[name])
        print(f"{name:<22} {tps:7.1f} real tokens/s   median {statistics.median(times[name]):6.1f} s per 8 examples   "
              f"speed-up vs TRL batch {args.batch}: {ref / sum(times[name]):.2f}x")
    print(f"ours vs plain TRL batch 1: {sum(times['plain TRL, batch 1']) / sum(times['ours (trainer: fast)']):.2f}x")


if __name__ == "__main__":
    main()
