"""Bar charts with 95% error bars: ROUGE beside the seed's own numbers (its Figure 10), and our systems' BERTScore.

The seed's BERTScore is never drawn: it comes from another encoder, on another scale (see eval.report).
"""

from __future__ import annotations

from pathlib import Path

from eval.report import SEED, bertscore_encoder, metric_label


def _bars(ax, results: dict, protocol: str, metrics: list[str], with_seed: bool, legend_suffix: str = "") -> None:  # noqa: ANN001
    import numpy as np

    means = results["aggregates"]["means"][protocol]
    groups = [(name + legend_suffix, {m: s[m] for m in metrics}, True) for name, s in means.items()]
    if with_seed:
        groups += [(name, {m: {"mean": v[m]} for m in metrics}, False) for name, v in SEED.items()]
    x = np.arange(len(metrics))
    width = 0.8 / len(groups)
    for i, (name, stats, ours) in enumerate(groups):
        heights = [stats[m]["mean"] for m in metrics]
        err = None
        if ours:
            err = [[stats[m]["mean"] - stats[m]["low"] for m in metrics], [stats[m]["high"] - stats[m]["mean"] for m in metrics]]
        bars = ax.bar(x + (i - (len(groups) - 1) / 2) * width, heights, width, yerr=err, capsize=3, label=name,
                      hatch=None if ours else "//", alpha=1.0 if ours else 0.45, edgecolor="black", linewidth=0.5)
        ax.bar_label(bars, fmt="%.3f", fontsize=6, padding=2)
    ax.set_xticks(x, [metric_label(results, m) for m in metrics])
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=min(4, len(groups)), frameon=False)
    ax.grid(axis="y", alpha=0.3)


def plot_run(results: dict, out_dir: Path) -> list[Path]:
    """``rouge.png`` and (when computed) ``bertscore.png`` for the first-reference protocol; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    n = results["data"]["n_dialogs"]
    paths = []
    fig, ax = plt.subplots(figsize=(9, 4.5))
    _bars(ax, results, "first", ["rouge1", "rouge2", "rougeL", "rougeLsum"], with_seed=True)
    ax.set_ylabel("F1")
    ax.set_title(f"ROUGE on {n} TweetSumm test dialogs (first reference, stemmed); 95% bootstrap CIs")
    fig.tight_layout()
    paths.append(out_dir / "rouge.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    first = next(iter(results["aggregates"]["means"]["first"].values()))
    if "bertscore_f1" in first:
        fig, ax = plt.subplots(figsize=(6, 4.5))
        encoder = (bertscore_encoder(results) or "").split("/")[-1]
        _bars(ax, results, "first", ["bertscore_f1"], with_seed=False, legend_suffix=f" ({encoder})")
        lows = [s["bertscore_f1"]["low"] for s in results["aggregates"]["means"]["first"].values()]
        ax.set_ylim(max(0.0, min(lows) - 0.05), 1.0)
        ax.set_title(f"BERTScore F1 with {encoder} (first reference); 95% CIs\n"
                     "our systems only: the seed's BERTScore used another encoder", fontsize=9)
        fig.tight_layout()
        paths.append(out_dir / "bertscore.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    return paths
