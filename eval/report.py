"""Tables from an evaluation run folder, or the difference between two runs.

    python -m eval.report eval/results/tweetsumm-test-qwen0.5b             # headline table
    python -m eval.report runs/eval/old runs/eval/new                      # new minus old, per system and metric
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eval.metrics import PROTOCOLS

# The seed report: Llama-2-7b-chat on the 110 TweetSumm test dialogs, first abstractive summary as the reference,
# stemming not stated. ROUGE is computed the same way on both sides, so the seed's ROUGE shares our columns.
SEED = {
    "seed: Llama-2-7b-chat base": {"rouge1": 0.2338, "rouge2": 0.0513, "rougeL": 0.1761, "rougeLsum": 0.2005},
    "seed: Llama-2-7b-chat QLoRA": {"rouge1": 0.4035, "rouge2": 0.1585, "rougeL": 0.3539, "rougeLsum": 0.3885},
}
# The seed's BERTScore F1 comes from an encoder it does not state (bert-score's default for English is roberta-large,
# which no offline package ships). Raw BERTScore depends on the encoder's scale, so these numbers get a column of
# their own and never stand in the column of our encoder's scores.
SEED_BERTSCORE_F1 = {"seed: Llama-2-7b-chat base": 0.7403, "seed: Llama-2-7b-chat QLoRA": 0.8334}
SEED_BERTSCORE_LABEL = "BERTScore F1, seed's own encoder (not stated; not comparable)"
T5_BASE_ROUGE1 = 0.47  # a fully fine-tuned T5-base on TweetSumm, as cited by the seed
LABELS = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "rougeLsum": "ROUGE-Lsum", "bertscore_f1": "BERTScore F1"}
EMPTY_CELL = "-"


def load_results(run_dir: str | Path) -> dict:
    """``results.json`` of a run folder (or the file itself)."""
    path = Path(run_dir)
    path = path / "results.json" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"No results.json in {run_dir}: run python -m eval.compare --out {run_dir} first")
    return json.loads(path.read_text(encoding="utf-8"))


def _metrics(results: dict, protocol: str = "first") -> list[str]:
    first_system = next(iter(results["aggregates"]["means"][protocol].values()))
    return [m for m in LABELS if m in first_system]


def bertscore_encoder(results: dict) -> str | None:
    """The encoder a run's BERTScore was computed with (None when the run has no BERTScore)."""
    setup = results["protocol"].get("bertscore")
    return setup.get("encoder", "encoder not recorded") if setup else None


def metric_label(results: dict, metric: str) -> str:
    """A metric's column label; BERTScore's names the run's encoder, since its raw values depend on it."""
    if metric.startswith("bertscore"):
        encoder = bertscore_encoder(results) or "encoder not recorded"
        return f"{LABELS[metric]} ({encoder.split('/')[-1]})"
    return LABELS[metric]


def bertscore_note(results: dict) -> str:
    """One sentence saying what the run's BERTScore may be compared with."""
    setup = results["protocol"].get("bertscore")
    if not setup:
        return "BERTScore: not computed."
    seed = ", ".join(f"{name.split()[-1]} {v:.4f}" for name, v in SEED_BERTSCORE_F1.items())
    return (f"BERTScore with {setup['encoder']} (layer {setup['num_layers']}, rescaled: {setup['rescale_with_baseline']}, "
            f"idf: {setup['idf']}) compares our systems with each other. The seed's BERTScore F1 ({seed}) comes from an "
            "encoder it does not state (bert-score's default is roberta-large); raw scores from different encoders sit on "
            "different scales, so the seed's numbers stand in a column of their own and are not comparable with ours.")


def _cell(stat: dict) -> str:
    return f"{stat['mean']:.4f} [{stat['low']:.3f}, {stat['high']:.3f}]"


def headline_rows(results: dict, protocol: str = "first", with_seed: bool = True) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per system (mean [95% CI]), then the seed's numbers for the first protocol.

    The seed's ROUGE shares our columns; its BERTScore gets its own column (another encoder), empty in our rows.
    """
    metrics = _metrics(results, protocol)
    seed = with_seed and protocol == "first"
    header = ["system", *(metric_label(results, m) for m in metrics), *([SEED_BERTSCORE_LABEL] if seed else [])]
    rows = [[name, *(_cell(stats[m]) for m in metrics), *([EMPTY_CELL] if seed else [])]
            for name, stats in results["aggregates"]["means"][protocol].items()]
    if seed:
        rows += [[name, *(f"{values[m]:.4f}" if m in values else EMPTY_CELL for m in metrics), f"{SEED_BERTSCORE_F1[name]:.4f}"]
                 for name, values in SEED.items()]
    return header, rows


def paired_rows(results: dict, protocol: str = "first") -> tuple[list[str], list[list[str]]]:
    """Each system minus the first: mean difference [95% CI], permutation p-value, wins/losses."""
    metrics = _metrics(results, protocol)
    ref = next(iter(results["aggregates"]["means"][protocol]))
    header = ["comparison", "metric", "difference [95% CI]", "p-value", "wins / losses / ties"]
    rows = []
    for name, per_metric in results["aggregates"]["paired"][protocol].items():
        for m in metrics:
            c = per_metric[m]
            rows.append([f"{name} - {ref}", metric_label(results, m), f"{c['diff']['mean']:+.4f} [{c['diff']['low']:+.3f}, {c['diff']['high']:+.3f}]",
                         f"{c['p_value']:.4f}", f"{c['wins']} / {c['losses']} / {c['ties']}"])
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """An aligned plain-text table for terminals."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths)), *(fmt.format(*map(str, r)) for r in rows)])


def render_table(results: dict) -> str:
    """The terminal view: both protocols and the paired tests."""
    n = results["data"]["n_dialogs"]
    parts = []
    for protocol in PROTOCOLS:
        parts.append(f"{protocol} reference{'s' if protocol == 'multi' else ''}, {n} {results['data']['split']} dialogs, mean [95% CI]:")
        parts.append(text_table(*headline_rows(results, protocol)))
        if results["aggregates"]["paired"][protocol]:
            parts.append(text_table(*paired_rows(results, protocol)))
        parts.append("")
    return "\n".join(parts).rstrip()


def side_by_side(results: dict, n: int = 3) -> tuple[list[str], list[list[str]]]:
    """The seed's Table 2: dialog id, each system's summary and the first reference, for the first ``n`` dialogs."""
    systems = list(results["systems"])
    by_key = {(r["id"], r["system"]): r for r in results["rows"]}
    ids = list(dict.fromkeys(r["id"] for r in results["rows"]))[:n]
    header = ["dialog", *systems, "reference (first)"]
    rows = [[i, *(by_key[(i, s)]["prediction"] for s in systems), by_key[(i, systems[0])]["references"][0]] for i in ids]
    return header, rows


def render_markdown(results: dict, plots: list[Path] | None = None) -> str:
    """The run's report.md: headline table beside the seed's numbers, paired tests, lengths, time, examples."""
    data, proto, timings = results["data"], results["protocol"], results["timings"]
    lines = [
        f"# TweetSumm {data['split']} evaluation ({data['n_dialogs']} dialogs)", "",
        f"Created {results['created']} at commit `{results['git_commit']}`.",
        "Systems: " + "; ".join(f"**{name}** = `{s['model'] or s['config']['model']}`" for name, s in results["systems"].items()) + ".",
        f"ROUGE F1 (rouge-score), stemming {'on' if proto['rouge']['use_stemmer'] else 'off'}, Lsum on one sentence per line.",
        bertscore_note(results),
        f"Intervals: {proto['bootstrap']['samples']}-sample percentile bootstrap, 95%. Paired test: {proto['paired_test']}.", "",
        "## First reference (the seed's protocol)", "",
        markdown_table(*headline_rows(results, "first")), "",
        f"For scale: a fully fine-tuned T5-base reaches ROUGE-1 about {T5_BASE_ROUGE1}. The seed's rows are copied from its report (no intervals).", "",
    ]
    if results["aggregates"]["paired"]["first"]:
        lines += [markdown_table(*paired_rows(results, "first")), ""]
    lines += ["## Best of all references", "", markdown_table(*headline_rows(results, "multi")), ""]
    if results["aggregates"]["paired"]["multi"]:
        lines += [markdown_table(*paired_rows(results, "multi")), ""]
    support = results["aggregates"].get("support")
    if support:
        lines += ["## Support check (each summary sentence against its conversation)", "",
                  f"Share of a summary's sentences that `{support['checker']}` finds supported by the conversation "
                  f"(support score >= {support['threshold']:.2f}; the check's own accuracy: `python -m eval.support`), "
                  "mean over dialogs with a 95% interval.", "",
                  markdown_table(["system", "sentences kept", "vs " + next(iter(results["systems"]))],
                                 [[name, f"{v['mean']:.3f} [{v['low']:.3f}, {v['high']:.3f}]",
                                   (lambda c: f"{c['diff']['mean']:+.3f} [{c['diff']['low']:+.3f}, {c['diff']['high']:+.3f}], "
                                              f"p={c['p_value']:.3f}")(support["paired"][name]) if name in support["paired"] else ""]
                                  for name, v in support["kept"].items()]), ""]
    lengths = results["aggregates"]["lengths"]
    lines += ["## Lengths (words) and errors", "",
              markdown_table(["text", "mean", "median", "p90", "max", "empty", "generation errors"],
                             [[k, f"{v['mean']:.1f}", f"{v['median']:.0f}", f"{v['p90']:.0f}", f"{v['max']:.0f}", v["empty"],
                               results["aggregates"]["errors"].get(k, "")] for k, v in lengths.items()]), ""]
    lines += ["## Where the time goes", "", markdown_table(
        ["step", "seconds", "notes"],
        [["load data", f"{timings['load_data_s']:.1f}", ""],
         *[[f"{name}: load model", f"{t['load_s']:.1f}", ""] for name, t in timings["systems"].items()],
         *[[f"{name}: summaries", f"{t['summaries_s']:.1f}",
            f"prefill (prompt) {t['prefill_s']:.0f} s, decode {t['decode_s']:.0f} s, median {t['median_s']:.2f} s per summary; "
            f"this run generated {t['generated']}, reused {t['reused']} from the cache"] for name, t in timings["systems"].items()],
         ["ROUGE", f"{timings['rouge_s']:.1f}", ""],
         ["BERTScore", f"{timings.get('bertscore_s', 0.0):.1f}", "both protocols"],
         ["bootstrap + paired tests", f"{timings['bootstrap_s']:.1f}", ""],
         ["total compute", f"{timings['compute_s']:.0f}", f"this invocation: {timings['wall_s']:.0f} s wall (cached summaries are not redone)"]]), ""]
    lines += ["## Side by side (first dialogs)", "", markdown_table(*side_by_side(results)), ""]
    for plot in plots or []:
        lines += [f"![{plot.stem}]({plot.as_posix()})", ""]
    return "\n".join(lines)


def render_diff(old: dict, new: dict, protocol: str = "first") -> str:
    """New minus old, per system present in both and per metric (first-reference protocol by default).

    BERTScore is left out when the two runs used different encoders: the difference would measure the encoder.
    """
    metrics = [m for m in _metrics(new, protocol) if m in _metrics(old, protocol)]
    notes = []
    if None not in (bertscore_encoder(old), bertscore_encoder(new)) and bertscore_encoder(old) != bertscore_encoder(new):
        metrics = [m for m in metrics if not m.startswith("bertscore")]
        notes.append(f"BERTScore left out: encoders differ ({bertscore_encoder(old)} vs {bertscore_encoder(new)})")
    header = ["system", *(metric_label(new, m) for m in metrics)]
    rows = []
    for name, stats in new["aggregates"]["means"][protocol].items():
        before = old["aggregates"]["means"][protocol].get(name)
        if before:
            rows.append([name, *(f"{stats[m]['mean'] - before[m]['mean']:+.4f}" for m in metrics)])
    if old["data"]["n_dialogs"] != new["data"]["n_dialogs"]:
        notes.append(f"{old['data']['n_dialogs']} vs {new['data']['n_dialogs']} dialogs: not the same examples")
    note = "".join(f"\n(note: {n})" for n in notes)
    if not rows:
        return "The two runs have no system name in common." + note
    return f"{protocol} reference, new minus old:\n" + text_table(header, rows) + note


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Print an evaluation run's table, or the difference of two runs.")
    parser.add_argument("run", help="run folder (with results.json)")
    parser.add_argument("other", nargs="?", help="a second run folder: print other minus run")
    parser.add_argument("--markdown", action="store_true", help="print the full Markdown report")
    args = parser.parse_args(argv)
    try:
        results = load_results(args.run)
        if args.other:
            print(render_diff(results, load_results(args.other)))
        else:
            print(render_markdown(results) if args.markdown else render_table(results))
    except (FileNotFoundError, json.JSONDecodeError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
