"""Speed of llama.cpp builds and load settings on the project's summarization path, side by side.

    python bench/llama_build_speed.py [--n 10] [--rounds 2] [--other-lib NAME=DIR ...] [--out results.json]

Each configuration runs in its own child process (a process can load only one llama.cpp library), on the same
TweetSumm test dialogs, with the default model and shipped adapter, greedy. Children alternate round by round
(A, B, C, then again) so machine noise hits all alike. Configurations:

- the installed build (tools/install_llama_cpp.py: this CPU's instruction-set level, never AMX), repacking on;
- the installed build with repacking off (``use_extra_bufts = False``, the runtime switch that also avoids the
  AMX crash);
- each ``--other-lib NAME=DIR``: another build's ``llama_cpp/lib`` folder (e.g. the old native build, unpacked
  from its wheel), repacking on. The first configuration is the reference the ratios are printed against.

Prints the median and p90 seconds per summary, how many outputs are identical to the reference's, and the ratio
of medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def child(n: int, extra_buffers: bool) -> dict:
    """Summarize ``n`` test dialogs (after one warm-up) and return per-dialog seconds and texts."""
    from assistant.backends.llamacpp import LlamaCppGenerator
    from assistant.config import AssistantConfig
    from assistant.models import resolve_model
    from assistant.summarize import Summarizer
    from training.tweetsumm import load_split

    import llama_cpp

    config = AssistantConfig()
    resolved = resolve_model(config.model, "llamacpp")
    gen = LlamaCppGenerator(resolved.path, model_name=resolved.name, n_ctx=config.n_ctx, n_threads=config.n_threads,
                            lora_path=config.adapter_path(), extra_buffers=extra_buffers)
    summarizer = Summarizer(gen, config)
    convs = load_split("test", limit=n + 1)
    summarizer.summarize(convs[0])
    seconds, texts = [], []
    for conv in convs[1:]:
        start = time.perf_counter()
        texts.append(summarizer.summarize(conv).text)
        seconds.append(time.perf_counter() - start)
    return {"seconds": seconds, "texts": texts, "build": llama_cpp.llama_print_system_info().decode().strip()}


def run_child(n: int, extra_buffers: bool, lib: str | None) -> dict:
    """One child process; ``lib`` points llama-cpp-python at another build's library folder."""
    env = dict(os.environ)
    if lib:
        env["LLAMA_CPP_LIB_PATH"] = lib
    out = subprocess.run([sys.executable, __file__, "--child", "--n", str(n), "--extra-buffers", str(int(extra_buffers))],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run every configuration ``--rounds`` times, interleaved, and print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10, help="TweetSumm test dialogs per child")
    ap.add_argument("--rounds", type=int, default=2, help="times each configuration runs, interleaved")
    ap.add_argument("--other-lib", action="append", default=[], metavar="NAME=DIR",
                    help="llama_cpp/lib folder of another build (repeatable; the first is the reference)")
    ap.add_argument("--out", help="write every run's seconds and texts here (JSON)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--extra-buffers", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.n, bool(args.extra_buffers))))
        return
    configs = [("installed build, repacking on (default)", None, True), ("installed build, repacking off", None, False)]
    configs[:0] = [(name, lib, True) for name, _, lib in (o.partition("=") for o in args.other_lib)]
    runs: dict[str, list[dict]] = {c[0]: [] for c in configs}
    for r in range(args.rounds):
        for label, lib, extra in (configs if r % 2 == 0 else configs[::-1]):
            runs[label].append(run_child(args.n, extra, lib))
            print(f"round {r + 1}: {label} done", file=sys.stderr, flush=True)
    ref_label = configs[0][0]
    ref = runs[ref_label]
    ref_median = statistics.median(s for run in ref for s in run["seconds"])
    print(f"{args.n} TweetSumm test dialogs x {args.rounds} rounds, default model + shipped adapter, greedy, "
          f"{os.cpu_count()} threads; reference: {ref_label}")
    print(f"{'configuration':<42} {'median s':>9} {'p90 s':>7} {'same text':>10} {'ratio':>7}")
    for label, _, _ in configs:
        seconds = sorted(s for run in runs[label] for s in run["seconds"])
        median, p90 = statistics.median(seconds), seconds[int(0.9 * (len(seconds) - 1))]
        same = sum(a == b for run, ref_run in zip(runs[label], ref) for a, b in zip(run["texts"], ref_run["texts"]))
        total = sum(len(run["texts"]) for run in runs[label])
        print(f"{label:<42} {median:9.3f} {p90:7.3f} {same:>5}/{total:<4} {median / ref_median:6.3f}x")
        print(f"    {runs[label][0]['build']}")
    if args.out:
        Path(args.out).write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
