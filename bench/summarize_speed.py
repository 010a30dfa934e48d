"""Speed of the project's default summarization path vs plain llama.cpp on the same weights.

    python bench/summarize_speed.py [--n 20] [--transformers]

Both systems run in this one process on the same TweetSumm test dialogs, the same weights (base GGUF + the
shipped adapter) and the same rendered prompt, greedy, same token budget, interleaved (A,B then B,A) so
machine noise hits both alike. The project's path includes parsing, cleaning, prompt rendering, the context
check and streaming through the Generator interface; the reference is ``llama_cpp.Llama.create_completion`` called directly.
Prints medians of total and first-token latency and the ratio (goal: at most 1.2x llama.cpp).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.backends import load_generator  # noqa: E402
from assistant.config import AssistantConfig  # noqa: E402
from assistant.summarize import Summarizer  # noqa: E402
from training.tweetsumm import load_split  # noqa: E402


def time_project(summarizer: Summarizer, conv) -> tuple[float, float, str]:  # noqa: ANN001
    """(total s, first-token s, text) for the project's path, from raw conversation to summary."""
    start = time.perf_counter()
    prepared = summarizer.prepare(conv)
    first, pieces = None, []
    for piece in summarizer.generator.stream(prepared.prompt.text, summarizer.params):
        first = first if first is not None else time.perf_counter() - start
        pieces.append(piece)
    summarizer.finish(prepared.prompt.response_prefix + "".join(pieces), prepared, 0, 0)
    return time.perf_counter() - start, first or 0.0, "".join(pieces)


def time_llama_cpp(llm, prompt: str, max_tokens: int) -> tuple[float, float, str]:  # noqa: ANN001
    """(total s, first-token s, text) for a direct llama-cpp-python completion of the same prompt."""
    start = time.perf_counter()
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    llm.reset()
    first, pieces = None, []
    for chunk in llm.create_completion(tokens, max_tokens=max_tokens, temperature=0.0, stream=True):
        first = first if first is not None else time.perf_counter() - start
        pieces.append(chunk["choices"][0]["text"])
    return time.perf_counter() - start, first or 0.0, "".join(pieces)


def summarize_runs(name: str, runs: list[tuple[float, float, str]]) -> dict[str, float]:
    """Median/p90 of total and first-token latency."""
    totals, firsts = [r[0] for r in runs], [r[1] for r in runs]
    row = {"median_s": statistics.median(totals), "p90_s": sorted(totals)[int(0.9 * (len(totals) - 1))],
           "first_token_median_s": statistics.median(firsts)}
    print(f"{name:<34} median {row['median_s']:6.3f} s   p90 {row['p90_s']:6.3f} s   first token {row['first_token_median_s']:6.3f} s")
    return row


def main() -> None:
    """Run the benchmark and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--n", type=int, default=20, help="TweetSumm test dialogs to time")
    parser.add_argument("--transformers", action="store_true", help="also time the transformers backend (fp32)")
    args = parser.parse_args()
    import llama_cpp

    config = AssistantConfig()
    project = Summarizer(load_generator(config), config)
    gguf = project.generator._llm.model_path  # the very same file
    threads = config.n_threads or os.cpu_count()  # what LlamaCppGenerator uses; llama_cpp's own default is half
    # The same adapter as the default path (the shipped TweetSumm LoRA), so both sides compute the same thing.
    reference = llama_cpp.Llama(model_path=gguf, n_ctx=config.n_ctx, n_threads=threads, lora_path=config.adapter_path(),
                                verbose=False)
    convs = load_split("test", limit=args.n + 1)
    warm, convs = convs[0], convs[1:]
    time_project(project, warm)
    time_llama_cpp(reference, project.prepare(warm).prompt.text, config.max_new_tokens)

    a_runs, b_runs, same = [], [], 0
    for i, conv in enumerate(convs):
        prompt = project.prepare(conv).prompt.text
        for which in ("ab" if i % 2 == 0 else "ba"):
            if which == "a":
                a_runs.append(time_project(project, conv))
            else:
                b_runs.append(time_llama_cpp(reference, prompt, config.max_new_tokens))
        same += a_runs[-1][2] == b_runs[-1][2]
    print(f"{len(convs)} TweetSumm test dialogs, {config.model}, greedy, max {config.max_new_tokens} new tokens, "
          f"{threads} threads; identical outputs: {same}/{len(convs)}")
    a = summarize_runs(f"SupportLens default ({project.generator.backend})", a_runs)
    b = summarize_runs("llama-cpp-python direct", b_runs)
    print(f"ratio default / llama.cpp (median total): {a['median_s'] / b['median_s']:.3f}x   (goal <= 1.2x)")
    print(f"ratio default / llama.cpp (first token):  {a['first_token_median_s'] / b['first_token_median_s']:.3f}x")
    if args.transformers:
        tcfg = AssistantConfig(backend="transformers")
        tsum = Summarizer(load_generator(tcfg), tcfg)
        t_runs = [time_project(tsum, conv) for conv in convs]
        t = summarize_runs("transformers backend (fp32 CPU)", t_runs)
        print(f"ratio transformers / llama.cpp (median total): {t['median_s'] / b['median_s']:.3f}x")


if __name__ == "__main__":
    main()
