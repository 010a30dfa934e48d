"""Training metrics history (JSON lines) and its plots: training loss, validation loss, memory."""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback


def peak_memory_mb() -> dict[str, float]:
    """Peak GPU memory allocated (when CUDA is used) and peak process RSS, in MiB."""
    import torch

    out = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if torch.cuda.is_available():
        out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


class MetricsCallback(TrainerCallback):
    """Appends every log event (loss, eval_loss, learning rate...) with tokens/s and memory to a JSONL file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._last: tuple[float, int] | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._last = (time.perf_counter(), int(getattr(state, "num_input_tokens_seen", 0) or 0))

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        record: dict[str, Any] = {"step": state.global_step, "epoch": round(state.epoch or 0, 4), "time": time.time()}
        record.update({k: v for k, v in (logs or {}).items() if isinstance(v, (int, float))})
        tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
        if self._last and "loss" in record:
            elapsed = time.perf_counter() - self._last[0]
            if elapsed > 0 and tokens > self._last[1]:
                record["tokens_per_s"] = round((tokens - self._last[1]) / elapsed, 1)
            self._last = (time.perf_counter(), tokens)
        record["tokens_seen"] = tokens
        record.update(peak_memory_mb())
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl file."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def plot_metrics(metrics_path: Path, out_dir: Path) -> list[Path]:
    """PNG plots of training loss, validation loss and peak memory against step (the seed's figures 7-9)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    series = {
        "training_loss": ("loss", "Training loss"),
        "validation_loss": ("eval_loss", "Validation loss"),
        "memory": ("peak_gpu_mb" if any("peak_gpu_mb" in r for r in records) else "peak_rss_mb", "Peak memory (MiB)"),
    }
    written = []
    for name, (key, title) in series.items():
        points = [(r["step"], r[key]) for r in records if key in r]
        if not points:
            continue
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(*zip(*points), marker="o", markersize=3)
        ax.set_xlabel("step")
        ax.set_ylabel(title)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = out_dir / f"{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
