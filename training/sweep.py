"""Small hyperparameter sweep over a training recipe; writes a comparison table.

    python -m training.sweep --config training/configs/qwen2.5-coder-0.5b-cpu-lora.yaml \\
        --grid lora_r=8,16,32 --grid learning_rate=1e-4,2e-4 --out runs/sweep limit_train=200 max_steps=25

Each grid point is a full ``training.train`` run in ``OUT/<name>`` (resumable: finished points are read,
not re-run). ``OUT/sweep.md`` and ``OUT/sweep.csv`` list the best validation loss of every point,
best first. Extra ``key=value`` arguments apply to every point (e.g. a shorter budget per point).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
from pathlib import Path

from assistant.errors import SupportLensError
from training.config import load_train_config


def parse_grid(items: list[str]) -> dict[str, list[str]]:
    """``["lora_r=8,16", "learning_rate=1e-4,2e-4"]`` -> ``{"lora_r": ["8", "16"], ...}``."""
    grid = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not values:
            raise SupportLensError(f"--grid {item!r} must look like key=v1,v2")
        grid[key.strip()] = [v.strip() for v in values.split(",") if v.strip()]
    return grid


def run_sweep(config: str, grid: dict[str, list[str]], out: Path, common: list[str]) -> list[dict]:
    """Train every grid point (skipping finished ones) and return rows sorted by best validation loss."""
    from training.train import run

    rows = []
    for values in itertools.product(*grid.values()):
        point = dict(zip(grid, values))
        name = "-".join(f"{k}{v}" for k, v in point.items())
        run_dir = out / name
        summary_path = run_dir / "adapter" / "training_summary.json"
        if not summary_path.is_file():
            cfg = load_train_config(config, [*common, *(f"{k}={v}" for k, v in point.items()), f"output_dir={run_dir}"])
            run(cfg, resume=any(run_dir.glob("checkpoint-*")))
        summary = json.loads(summary_path.read_text())
        rows.append({**point, "run": name, "best_eval_loss": summary["best_eval_loss"], "steps": summary["global_step"]})
    rows.sort(key=lambda r: r["best_eval_loss"])
    write_table(rows, out)
    return rows


def write_table(rows: list[dict], out: Path) -> None:
    """sweep.csv and sweep.md (a Markdown table, best first)."""
    out.mkdir(parents=True, exist_ok=True)
    keys = list(rows[0])
    with open(out / "sweep.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(f"{r[k]:.4f}" if isinstance(r[k], float) else str(r[k]) for k in keys) + " |" for r in rows]
    (out / "sweep.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Hyperparameter sweep over a training recipe.")
    parser.add_argument("--config", required=True)
    parser.add_argument("--grid", action="append", required=True, help="key=v1,v2 (repeatable)")
    parser.add_argument("--out", default="runs/sweep")
    parser.add_argument("overrides", nargs="*", help="key=value applied to every point")
    args = parser.parse_args(argv)
    try:
        rows = run_sweep(args.config, parse_grid(args.grid), Path(args.out), args.overrides)
    except SupportLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print((Path(args.out) / "sweep.md").read_text())
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
