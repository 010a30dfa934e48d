"""Does the judge read a rule it was never trained on? The held-back rule types of ``training.judge_data``.

    python -m eval.judge_probe --adapter runs/train/qwen2.5-coder-0.5b-judge-lora --out runs/judge-probe

Scores the held-back slice (rule types that never appear in training, on dialogs never trained on) and a slice of
the trained rule types' validation examples with the base judge and with the adapter, by next-token P(yes) as the
audit does; prints accuracy (P(yes) >= 0.5) and AUC per rule type with bootstrap intervals, side by side.

This is a probe on constructed data, labelled by how it was made: it tells whether training generalises to a
rule type it has not seen, never how good the audit is (that is ``eval.audit``, on human labels only).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Sequence

from eval.metrics import auc, bootstrap_auc, bootstrap_ci


def summarize(rows: list[dict]) -> dict:
    """Accuracy and AUC (with 95% intervals) of rows {"p": P(yes), "label": yes|no}."""
    labels = [r["label"] == "yes" for r in rows]
    scores = [r["p"] for r in rows]
    correct = [float((p >= 0.5) == y) for p, y in zip(scores, labels)]
    boot = bootstrap_auc(scores, labels)
    acc = bootstrap_ci(correct)
    value = auc(scores, labels)
    return {"n": len(rows), "accuracy": round(acc.mean, 3), "accuracy_ci": [round(acc.low, 3), round(acc.high, 3)],
            "auc": None if value != value else round(value, 3),  # one class only: no AUC
            "auc_ci": [round(boot[int(0.025 * len(boot))], 3), round(boot[min(len(boot) - 1, int(0.975 * len(boot)))], 3)]
            if boot else None}


def score(examples: list, p_yes: Callable[[str], float], progress: bool = True) -> list[dict]:
    """Each example's P(yes) under ``p_yes``."""
    from tqdm import tqdm

    return [{"rule_type": e.rule_type, "label": e.label, "p": round(p_yes(e.prompt), 5)}
            for e in tqdm(examples, desc="scoring", unit="check", disable=not progress)]


def render_table(result: dict) -> str:
    """Markdown: per slice and rule type, accuracy and AUC of each judge."""
    judges = list(result["judges"])
    head = "| slice | rule type | n | " + " | ".join(f"{j} accuracy | {j} AUC" for j in judges) + " |"
    lines = [head, "|" + "---|" * (3 + 2 * len(judges))]
    for slice_name, types in result["slices"].items():
        for rule_type in [*sorted(t for t in types if t != "all"), "all"]:
            cells = []
            for j in judges:
                s = result["judges"][j][slice_name][rule_type]
                auc_text = "n/a" if s["auc"] is None else f"{s['auc']:.2f}" + (
                    f" [{s['auc_ci'][0]:.2f}, {s['auc_ci'][1]:.2f}]" if s["auc_ci"] else "")
                cells.append(f"{s['accuracy']:.2f} [{s['accuracy_ci'][0]:.2f}, {s['accuracy_ci'][1]:.2f}] | {auc_text}")
            n = result["judges"][judges[0]][slice_name][rule_type]["n"]
            lines.append(f"| {slice_name} | {'**all**' if rule_type == 'all' else rule_type} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m eval.judge_probe --adapter RUN_OR_GGUF [--model M] [--held-back N] [--trained N] --out DIR``."""
    parser = argparse.ArgumentParser(description="Probe a trained judge on held-back rule types (constructed data).")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--adapter", required=True, help="the trained judge: a run folder or a LoRA .gguf")
    parser.add_argument("--held-back", type=int, default=48, help="held-back examples (rule types never trained)")
    parser.add_argument("--trained", type=int, default=42, help="validation examples of the trained rule types")
    parser.add_argument("--seed", type=int, default=42, help="the trainer's seed (TrainConfig.seed): the same dialog "
                        "split, so no probed dialog was trained on")
    parser.add_argument("--out", default="runs/judge-probe")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    from assistant.backends import load_generator
    from assistant.config import AssistantConfig
    from assistant.errors import SupportLensError
    from assistant.prompts import renderer_for
    from training.judge_data import build_splits
    from training.tweetsumm import load_split

    try:
        base = load_generator(AssistantConfig(model=args.model, adapter="none"))
        splits = build_splits(load_split("train", args.data_dir), renderer_for(base), 0, args.trained, args.held_back, args.seed)
        slices = {"held back": splits["held_back"], "trained types": splits["valid"]}
        result: dict = {"model": args.model, "adapter": str(args.adapter), "seed": args.seed,
                        "slices": {k: sorted({e.rule_type for e in v}) + ["all"] for k, v in slices.items()}, "judges": {}}
        rows = {}
        for name, adapter in (("base", "none"), ("trained", str(args.adapter))):
            generator = base if adapter == "none" else load_generator(AssistantConfig(model=args.model, adapter=adapter))
            rows[name] = {k: score(v, lambda prompt: generator.choice_probabilities(prompt, ("yes", "no"))[0])
                          for k, v in slices.items()}
            result["judges"][name] = {
                k: {**{t: summarize([r for r in v if r["rule_type"] == t]) for t in {r["rule_type"] for r in v}},
                    "all": summarize(v)} for k, v in rows[name].items()}
    except SupportLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result["rows"] = rows
    (out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    table = render_table(result)
    (out / "report.md").write_text("# Judge probe: held-back rule types (constructed data, not a quality figure)\n\n"
                                   f"Model `{args.model}`, adapter `{args.adapter}`.\n\n{table}\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
