"""What the support check adds to a summary: its time per summary against the summary's own, on the same dialogs.

    python bench/support_speed.py [--n 20]

On TweetSumm test dialogs (the first ``--n``), interleaved so machine noise hits both alike: the default summary
(the shipped fine-tuned model, llama.cpp, from raw conversation to summary) and the support check of that summary
(``assistant.support.SupportChecker`` with the default MiniLM embedder: one embedding call for the conversation's
messages and the summary's claims). Prints medians and the ratio check / summary (the check runs after the summary
streams, so the ratio is what a manager waits for the marks, as a share of the summary's time).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.backends import load_generator  # noqa: E402
from assistant.config import AssistantConfig  # noqa: E402
from assistant.summarize import Summarizer  # noqa: E402
from assistant.support import SupportChecker  # noqa: E402
from knowledge_base.embedder import make_embedder  # noqa: E402
from training.tweetsumm import load_split  # noqa: E402


def main() -> None:
    """Time both, print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20, help="TweetSumm test dialogs to time")
    args = parser.parse_args()
    config = AssistantConfig()
    summarizer = Summarizer(load_generator(config), config)
    checker = SupportChecker(make_embedder())
    convs = load_split("test", limit=args.n + 1)
    checker.check(convs[0], summarizer.summarize(convs[0]).text)  # warm both (model loads, first calls)
    summary_s, check_s, doubted, sentences = [], [], 0, 0
    for conv in convs[1:]:
        start = time.perf_counter()
        text = summarizer.summarize(conv).text
        summary_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        report = checker.check(conv, text)
        check_s.append(time.perf_counter() - start)
        doubted, sentences = doubted + len(report.doubted), sentences + len(report.sentences)
    s, c = statistics.median(summary_s), statistics.median(check_s)
    print(f"summary (default path)   median {s:6.3f} s   p90 {sorted(summary_s)[int(0.9 * (len(summary_s) - 1))]:6.3f} s")
    print(f"support check            median {c:6.3f} s   p90 {sorted(check_s)[int(0.9 * (len(check_s) - 1))]:6.3f} s"
          f"   ({doubted} of {sentences} sentences doubted)")
    print(f"ratio check / summary: {c / s:.2f}x")


if __name__ == "__main__":
    main()
