"""Batch rows/s with 1 and 2 served endpoints: the fan-out of ``assistant.batch.run_batch_on``.

    python bench/batch_throughput.py [--n 12] [--repeats 2]

Two llama-cpp-python OpenAI-compatible servers on loopback serve the embedded 0.5B GGUF, each with one thread (so
the two cores are shared fairly: the one-endpoint run leaves the second server idle, not starved). The same
TweetSumm test dialogs are summarized as a batch through the openai backend with 1 endpoint (the reference) and with
2 endpoints, alternating A,B then B,A so machine noise hits both alike; each run starts from an empty journal.
Prints rows/s of each run with the machine's load average (a busy machine leaves the second server no core of
its own), the median ratio 2-endpoint / 1-endpoint, and how many summaries are identical (greedy decoding).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.batch import BatchItem, BatchRun, endpoint_workers, run_batch_on  # noqa: E402
from assistant.config import AssistantConfig  # noqa: E402
from assistant.local_server import llama_server  # noqa: E402
from assistant.models import DEFAULT_MODEL, embedded_gguf  # noqa: E402
from training.tweetsumm import load_split  # noqa: E402


def timed_run(items: list[BatchItem], urls: tuple[str, ...], folder: Path) -> BatchRun:
    """One batch over ``items`` on ``urls`` (a fresh journal in ``folder``), summaries only, as shipped."""
    config = AssistantConfig(backend="openai", model=DEFAULT_MODEL, openai_base_urls=urls, adapter="none")
    run = run_batch_on(items, folder, endpoint_workers(config))
    failed = [r.error for r in run.results if r.error]
    if failed:
        raise SystemExit(f"{len(failed)} rows failed, e.g. {failed[0]}")
    load = os.getloadavg()[0]  # other jobs on the machine take cores the second server would use: say so
    print(f"  {len(urls)} endpoint(s): {run.processed} rows in {run.seconds:6.1f} s = {run.rows_per_s:.3f} rows/s"
          f"   (load average {load:.1f} on {os.cpu_count()} cores)")
    return run


def main() -> None:
    """Start two servers, time both configurations alternately, print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--n", type=int, default=12, help="TweetSumm test dialogs per run")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each configuration (alternated)")
    parser.add_argument("--no-logprobs", action="store_true",
                        help="servers for summaries only (no logits_all: faster prompts, no audits)")
    args = parser.parse_args()
    items = [BatchItem(i + 1, c.conversation_id or f"row-{i + 1}", conversation=c)
             for i, c in enumerate(load_split("test", limit=args.n))]
    gguf = embedded_gguf(DEFAULT_MODEL)
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        urls = tuple(stack.enter_context(llama_server(gguf, DEFAULT_MODEL, n_threads=1,
                                                                 logprobs=not args.no_logprobs)) for _ in range(2))
        timed_run(items[:2], urls, Path(tmp) / "warm")  # both servers load and touch their weights once
        one: list[BatchRun] = []
        two: list[BatchRun] = []
        for rep in range(args.repeats):
            order = [(one, urls[:1]), (two, urls)] if rep % 2 == 0 else [(two, urls), (one, urls[:1])]
            for runs, endpoints in order:
                runs.append(timed_run(items, endpoints, Path(tmp) / f"{len(endpoints)}-{rep}"))
    base = statistics.median(r.rows_per_s for r in one)
    fanned = statistics.median(r.rows_per_s for r in two)
    same = sum(a.summary == b.summary for a, b in zip(one[0].results, two[0].results, strict=True))
    print(f"\n1 endpoint (reference)  {base:.3f} rows/s")
    print(f"2 endpoints             {fanned:.3f} rows/s   ratio {fanned / base:.2f}x the 1-endpoint run")
    print(f"identical summaries     {same}/{len(items)}")


if __name__ == "__main__":
    main()
