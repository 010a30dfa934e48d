"""Validate the summary support check against hand labels: AUC, the threshold chosen on the dev half, and how
it does on the other half.

    python -m eval.support --out eval/support_dev/results/attribution   # eval/support_dev/labels.jsonl

A labels file has one JSON object per summary sentence: ``id`` (a TweetSumm dialog), ``system``, ``index``,
``sentence``, ``label`` (supported | unsupported), ``kind`` (natural, or planted-* for an error planted by hand
into a supported sentence) and ``half`` (dev | test). The threshold is chosen on the dev half's natural sentences
(the one that best separates them: highest balanced accuracy); the test half is scored once with it. Planted
errors are constructed, so they are reported apart, never as the headline.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from eval.metrics import auc, bootstrap_auc, bootstrap_ci

REPO = Path(__file__).resolve().parents[1]
LABELS = REPO / "eval" / "support_dev" / "labels.jsonl"


def choose_threshold(scores: list[float], supported: list[bool]) -> float:
    """The threshold (doubt below it) with the highest balanced accuracy on these sentences: a midpoint between two
    adjacent scores, so no labelled sentence sits on it; ties: the lowest."""
    pos = sum(supported)
    neg = len(supported) - pos
    values = sorted(set(scores))
    candidates = [values[0] - 1e-3] + [round((a + b) / 2, 4) for a, b in zip(values, values[1:])] + [values[-1] + 1e-3]
    best, best_value = 0.5, -1.0
    for t in candidates if pos and neg else []:
        tpr = sum(s >= t for s, y in zip(scores, supported) if y) / pos  # supported and kept
        tnr = sum(s < t for s, y in zip(scores, supported) if not y) / neg  # unsupported and doubted
        if (tpr + tnr) / 2 > best_value:
            best, best_value = t, (tpr + tnr) / 2
    return best


def detection(scores: list[float], supported: list[bool], threshold: float) -> dict:
    """How well doubting below ``threshold`` finds the unsupported sentences: precision, recall, balanced accuracy."""
    doubted = [s < threshold for s in scores]
    hits = sum(d and not y for d, y in zip(doubted, supported))
    unsupported = sum(not y for y in supported)
    kept_ok = sum(not d and y for d, y in zip(doubted, supported))
    precision = hits / sum(doubted) if any(doubted) else None
    recall = hits / unsupported if unsupported else None
    tpr = kept_ok / sum(supported) if any(supported) else None
    return {"doubted": sum(doubted), "unsupported": unsupported, "precision": precision, "recall": recall,
            "balanced_accuracy": None if recall is None or tpr is None else (recall + tpr) / 2}


def auc_with_ci(scores: list[float], supported: list[bool], groups: list[str] | None = None) -> dict:
    """AUC of the scores for telling supported from unsupported, with a 95% bootstrap interval over ``groups`` (the
    dialogs: a dialog's sentences are resampled together)."""
    boot = bootstrap_auc(scores, supported, groups=groups)
    value = auc(scores, supported)
    return {"n": len(scores), "supported": sum(supported), "auc": None if value != value else round(value, 3),
            "auc_ci": [round(boot[int(0.025 * len(boot))], 3), round(boot[min(len(boot) - 1, int(0.975 * len(boot)))], 3)]
            if boot else None}


def evaluate(rows: list[dict], threshold: float | None = None) -> dict:
    """The report of scored rows (each a labels line with ``score``); the threshold is chosen on the dev half's
    natural sentences unless given."""
    def pick(half: str, natural: bool = True) -> list[dict]:
        return [r for r in rows if r["half"] == half and (r["kind"] == "natural") == natural]

    def columns(chosen: list[dict]) -> tuple[list[float], list[bool]]:
        return [r["score"] for r in chosen], [r["label"] == "supported" for r in chosen]

    dev, test = pick("dev"), pick("test")
    threshold = choose_threshold(*columns(dev)) if threshold is None else threshold
    report = {"threshold": threshold,
              **{name: {**auc_with_ci(*columns(chosen), groups=[r["id"] for r in chosen]),
                        **detection(*columns(chosen), threshold)} for name, chosen in (("dev", dev), ("test", test))}}
    planted = pick("test", natural=False)
    supported_test = [r for r in test if r["label"] == "supported"]
    if planted:
        both = supported_test + planted
        report["test_planted"] = {**auc_with_ci([r["score"] for r in both], [r in supported_test for r in both],
                                                groups=[r["id"] for r in both]),
                                  "doubted_share": round(sum(r["score"] < threshold for r in planted) / len(planted), 3),
                                  "by_kind": {k: round(sum(r["score"] < threshold for r in planted if r["kind"] == k)
                                                       / sum(r["kind"] == k for r in planted), 3)
                                              for k in sorted({r["kind"] for r in planted})}}
    report["supported_share"] = {}  # on the test half: the threshold was fitted on the dev half
    for system in sorted({r["system"] for r in test}):
        kept = [float(r["score"] >= threshold) for r in test if r["system"] == system]
        report["supported_share"][system] = bootstrap_ci(kept).to_dict()
    return report


def render(report: dict, checker: str) -> str:
    """Markdown summary of a report."""
    lines = [f"# Support check against hand labels ({checker})", "",
             f"Threshold {report['threshold']:.3f} (doubt below it), chosen on the dev half's natural sentences.", "",
             "| half | sentences | supported | AUC [95% CI] | doubted | precision | recall | balanced accuracy |",
             "|---|---|---|---|---|---|---|---|"]
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    for half in ("dev", "test"):
        r = report[half]
        lines.append(f"| {half} | {r['n']} | {r['supported']} | {fmt(r['auc'])} {r['auc_ci']} | {r['doubted']} | "
                     f"{fmt(r['precision'])} | {fmt(r['recall'])} | {fmt(r['balanced_accuracy'])} |")
    if "test_planted" in report:
        p = report["test_planted"]
        lines += ["", f"Planted errors (constructed, test half): AUC against the supported sentences {fmt(p['auc'])} "
                      f"{p['auc_ci']}; doubted {p['doubted_share']:.0%} ({', '.join(f'{k} {v:.0%}' for k, v in p['by_kind'].items())})."]
    if "seconds_per_dialog" in report:
        lines += ["", f"Time: {1000 * report['seconds_per_dialog']:.0f} ms per dialog (its conversation embedded once with "
                      "all its labelled sentences, as the app checks a summary)."]
    lines += ["", "Share of the test half's natural sentences the check keeps, per system: " + "; ".join(
        f"{s} {v['mean']:.2f} [{v['low']:.2f}, {v['high']:.2f}]" for s, v in report["supported_share"].items()) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Score every labelled sentence with the judge, choose the threshold on dev, report on test."""
    parser = argparse.ArgumentParser(description="Validate the summary support check on hand-labelled sentences.")
    parser.add_argument("--labels", default=str(LABELS))
    parser.add_argument("--out", default="runs/support/default")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    from tqdm import tqdm

    from assistant.errors import SupportLensError
    from assistant.support import SupportChecker, attribution_scores
    from knowledge_base import embedder
    from training.tweetsumm import find_dialogs

    rows = [json.loads(line) for line in Path(args.labels).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        print(f"error: {args.labels} holds no labelled sentence", file=sys.stderr)
        return 2
    try:
        checker = SupportChecker(embedder.make_embedder())
        wanted = {r["id"] for r in rows}
        convs = find_dialogs(wanted, args.data_dir)
        missing = wanted - convs.keys()
        if missing:
            raise SupportLensError(f"{len(missing)} labelled dialogs are not in the TweetSumm data, e.g. {sorted(missing)[0]}")
        by_dialog: dict[str, list[dict]] = {}
        for r in rows:
            by_dialog.setdefault(r["id"], []).append(r)
        checker.embedder.embed(["warm-up"])  # the embedder loads before the clock starts
        start = time.perf_counter()
        for cid, labelled in tqdm(by_dialog.items(), desc="support", unit="dialog"):
            # as the app checks a summary: the conversation embedded once with all its sentences
            scores = attribution_scores(convs[cid], [r["sentence"] for r in labelled], checker.embedder)
            for r, score in zip(labelled, scores):
                r["checked"] = score is not None  # a sentence naming no party is kept: neutral in the ranking
                r["score"] = 0.5 if score is None else round(score, 5)
        seconds = time.perf_counter() - start
    except SupportLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from eval.audit import portable

    from eval.compare import git_commit, library_versions

    report = {"checker": checker.name, "git_commit": git_commit(), "versions": library_versions(),
              "labels": portable(args.labels), **evaluate(rows),
              "seconds_per_dialog": round(seconds / len(by_dialog), 4)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({**report, "rows": rows}, indent=1) + "\n")
    text = render(report, checker.name)
    (out / "report.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
