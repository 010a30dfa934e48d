"""Zero-shot summary quality and speed of candidate default models on TweetSumm test dialogs.

    pip install -e .
    python bench/compare_models.py --n 20 qwen2.5-coder-0.5b-instruct qwen2.5-coder-1.5b-instruct path/to/other.gguf

Each model runs with the project's own prompt and llama.cpp backend, greedy. Scores: ROUGE-1/2/L F1
(rouge-score, stemmed) against the first abstractive summary. This is how the default was chosen;
the full evaluation with intervals is ``eval/``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.backends import load_generator  # noqa: E402
from assistant.config import AssistantConfig  # noqa: E402
from assistant.summarize import Summarizer  # noqa: E402
from training.tweetsumm import load_split  # noqa: E402


def main() -> None:
    """Print one row per model: ROUGE-1/2/L and median seconds per summary."""
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+", help="embedded model names or .gguf paths")
    parser.add_argument("--n", type=int, default=20, help="number of TweetSumm test dialogs")
    args = parser.parse_args()
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    convs = load_split("test", limit=args.n)
    print(f"{'model':<34} {'R-1':>6} {'R-2':>6} {'R-L':>6} {'s/summary':>10}   first summary")
    for source in args.models:
        config = AssistantConfig(model=source)
        summarizer = Summarizer(load_generator(config), config)
        scores, times, first = {"rouge1": [], "rouge2": [], "rougeL": []}, [], ""
        for conv in convs:
            out = summarizer.summarize(conv)
            first = first or out.text
            times.append(out.total_s)
            for key, value in scorer.score(conv.meta["abstractive_summaries"][0], out.text).items():
                scores[key].append(value.fmeasure)
        means = {k: statistics.mean(v) for k, v in scores.items()}
        print(f"{Path(source).stem:<34} {means['rouge1']:6.4f} {means['rouge2']:6.4f} {means['rougeL']:6.4f} "
              f"{statistics.median(times):10.2f}   {first[:90]}")


if __name__ == "__main__":
    main()
