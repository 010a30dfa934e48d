"""Resumable training for the judges' own loops (``training.encoder_judge``, ``training.lm_judge``): one checkpoint
of the trained parameters, optimizer, scheduler, step and random state, refused when the data or recipe changed, and
the loop that steps, logs and checkpoints."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable


def add_run_arguments(parser: argparse.ArgumentParser, *, examples: int, valid: int, held_back: int, batch: int,
                      lr: float, save_every: int) -> None:
    """The options both judge trainers share: data sizes, schedule, seed, checkpoints (defaults per trainer)."""
    parser.add_argument("--examples", type=int, default=examples, help="training checks (balanced yes / no)")
    parser.add_argument("--valid", type=int, default=valid)
    parser.add_argument("--held-back", dest="held_back", type=int, default=held_back)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--limit-dialogs", dest="limit_dialogs", type=int, default=None, help="first N train dialogs (tests)")
    parser.add_argument("--save-every", dest="save_every", type=int, default=save_every, help="steps between checkpoints")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--resume", action="store_true")


class Checkpoint:
    """``OUT/checkpoint/state.pt`` for the run of ``fingerprint`` (the data and the recipe), beside ``OUT/metrics.jsonl``."""

    def __init__(self, out: Path, fingerprint: str, recipe: dict) -> None:
        self.folder = Path(out) / "checkpoint"
        self.state = self.folder / "state.pt"
        self.log = Path(out) / "metrics.jsonl"
        self.fingerprint = fingerprint
        self.recipe = recipe

    def start_afresh(self) -> int:
        """Step 0: an earlier run's training log and checkpoint are dropped."""
        self.log.unlink(missing_ok=True)
        self.remove()
        return 0

    def restore(self, model, optimizer, scheduler) -> int:  # noqa: ANN001 - torch objects
        """The step to continue from, with the trained parameters and the optimizer as they were (step 0, afresh, when
        there is no checkpoint); exits when the checkpoint belongs to other data or another recipe."""
        import torch

        if not self.state.is_file():
            return self.start_afresh()
        state = torch.load(self.state, weights_only=False)
        if state["fingerprint"] != self.fingerprint:
            raise SystemExit(f"{self.folder} was written for other data or another recipe ({state['recipe']}); "
                             "start afresh without --resume, or give the same settings.")
        loaded = model.load_state_dict(state["model"], strict=False)  # the trained parameters; the rest is the base
        if loaded.unexpected_keys:
            raise SystemExit(f"{self.state} holds parameters this model does not have ({loaded.unexpected_keys[:3]} ...); "
                             "start afresh without --resume.")
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if "torch_rng" in state:  # dropout continues as it would have: a resumed run is the run
            torch.set_rng_state(state["torch_rng"])
        step = state["step"]
        if self.log.exists():  # lines written after the checkpoint are written again by the resumed steps
            kept = [line for line in self.log.read_text(encoding="utf-8").splitlines() if _step(line) <= step]
            self.log.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        print(f"resumed at step {step}", file=sys.stderr)
        return step

    def save(self, model, names: set[str], optimizer, scheduler, step: int) -> None:  # noqa: ANN001 - torch objects
        """Write the parameters ``names`` and the optimizer's state at ``step`` (atomically: a kill leaves the last one)."""
        import torch

        self.folder.mkdir(exist_ok=True)
        trained = {k: v for k, v in model.state_dict().items() if k in names}
        tmp = self.state.with_suffix(".tmp")
        torch.save({"model": trained, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "step": step, "fingerprint": self.fingerprint, "recipe": self.recipe,
                    "torch_rng": torch.get_rng_state()}, tmp)
        tmp.replace(self.state)

    def remove(self) -> None:
        """Delete the checkpoint once the run has written its result."""
        if self.folder.is_dir():
            for f in self.folder.iterdir():
                f.unlink()
            self.folder.rmdir()


def _step(line: str) -> float:
    """The step of a training-log line; infinity for a line a kill cut short (dropped with the later ones)."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return float("inf")


def train(loss_at: Callable[[int], object], total: int, step: int, *, model, names: set[str], optimizer, scheduler,  # noqa: ANN001
          checkpoint: Checkpoint, save_every: int, log_every: int = 10, clip: float = 1.0) -> float:
    """Steps ``step`` to ``total``: ``loss_at(step)`` gives the batch's loss; gradients clipped to ``clip``; the smoothed
    loss logged every ``log_every`` steps to ``checkpoint.log`` and shown on a progress bar; a checkpoint every
    ``save_every`` steps. Returns the seconds it took."""
    import torch
    from tqdm import tqdm

    params = [p for n, p in model.named_parameters() if n in names]
    started, smoothed = time.time(), None
    bar = tqdm(total=total, initial=step, desc="training the judge", unit="step")
    with open(checkpoint.log, "a", encoding="utf-8") as log:
        while step < total:
            loss = loss_at(step)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            smoothed = loss.item() if smoothed is None else 0.95 * smoothed + 0.05 * loss.item()
            bar.update(1)
            bar.set_postfix(loss=f"{smoothed:.3f}")
            if step % log_every == 0 or step == total:
                log.write(json.dumps({"step": step, "loss": round(smoothed, 4), "lr": scheduler.get_last_lr()[0],
                                      "seconds": round(time.time() - started, 1)}) + "\n")
                log.flush()
            if step % save_every == 0 and step < total:
                checkpoint.save(model, names, optimizer, scheduler, step)
    bar.close()
    return time.time() - started
