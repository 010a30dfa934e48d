"""Load check on loopback: N concurrent chat requests against a running app; all must be answered.

    python app.py --port 7870 &                      # the real app, embedded models
    python bench/app_load.py --url http://127.0.0.1:7870/ --n 20

Prints the latency distribution (each request: submit -> full summary) and, as the reference measured in the
same run, the latency of one request alone; the ratio of the median to it shows the queueing cost.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.tweetsumm import load_split  # noqa: E402


def main() -> int:
    """Fire the requests and print the numbers; exit 1 if any request was lost."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:7860/")
    parser.add_argument("--n", type=int, default=20)
    args = parser.parse_args()
    from gradio_client import Client

    dialogs = [c.to_text() for c in load_split("test", limit=args.n)]

    def one(text: str) -> tuple[float, str]:
        start = time.perf_counter()
        history, _ = Client(args.url, verbose=False).predict(text, [], api_name="/summarize")
        content = history[-1]["content"]
        summary = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
        return time.perf_counter() - start, summary

    alone, _ = one(dialogs[0])
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.n) as pool:
        results = list(pool.map(lambda t: _safe(one, t), dialogs))
    wall = time.perf_counter() - start
    ok = [r for r in results if r and r[1].strip()]
    times = sorted(r[0] for r in ok)
    print(f"{len(ok)} of {args.n} concurrent requests answered with a summary in {wall:.1f} s wall")
    if times:
        q = lambda p: times[min(len(times) - 1, int(p * len(times)))]  # noqa: E731
        print(f"latency s: min {times[0]:.1f}  median {statistics.median(times):.1f}  p90 {q(0.9):.1f}  max {times[-1]:.1f}")
        print(f"reference, one request alone: {alone:.1f} s; median / alone = {statistics.median(times) / alone:.1f}x "
              f"(requests share one model: they queue)")
    return 0 if len(ok) == args.n else 1


def _safe(fn, arg):  # noqa: ANN001, ANN202
    try:
        return fn(arg)
    except Exception as exc:  # noqa: BLE001 - a lost request is what we count
        print(f"request failed: {exc}", file=sys.stderr)
        return None


if __name__ == "__main__":
    sys.exit(main())
