"""Tokens/s of batched against single-sequence llama.cpp, and what it bounds for many users at once.

    python bench/batched_decode.py                # the embedded 0.5B, TweetSumm summary prompts, 2 threads
    python bench/batched_decode.py --n 4,8,16 --new-tokens 48

Several sequences in one ``llama_decode`` batch (one sequence id each, one KV cache shared by all) against the same
work done one sequence at a time, in the same run on the same context:
- prefill: N summary prompts evaluated one after another vs in one multi-sequence batch;
- decode: N sequences each producing ``--new-tokens`` greedy tokens, one batch per step vs one sequence at a time.
Prints tokens/s and the ratio batched / single for each, then the floor it puts under the median latency of N
people pressing Summarize at once: however the work is scheduled, the median request cannot finish before half
the batch's prefill is done (prefill is compute-bound; batching does not make its multiply-adds fewer).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.models import DEFAULT_MODEL, embedded_gguf  # noqa: E402
from assistant.prompts import build_summary_prompt, default_format  # noqa: E402
from training.tweetsumm import load_split  # noqa: E402


class Batcher:
    """A llama.cpp context holding ``n_seq`` sequences in one KV cache, decoded through explicit batches."""

    def __init__(self, model, n_seq: int, n_ctx_per_seq: int, threads: int) -> None:  # noqa: ANN001 - llama_cpp.Llama
        import llama_cpp

        self.lib = llama_cpp
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_seq * n_ctx_per_seq
        params.n_batch = params.n_ubatch = min(2048, n_seq * n_ctx_per_seq)
        params.n_seq_max = n_seq
        params.kv_unified = True
        params.n_threads = params.n_threads_batch = threads
        self.ctx = llama_cpp.llama_init_from_model(model.model, params)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not create the batched context")
        self.n_vocab = model.n_vocab()
        self.batch = llama_cpp.llama_batch_init(params.n_batch, 0, n_seq)

    def clear(self) -> None:
        self.lib.llama_memory_seq_rm(self.lib.llama_get_memory(self.ctx), -1, -1, -1)

    def decode(self, items: list[tuple[int, int, int, bool]]) -> None:
        """Decode (token, position, sequence, wants logits) items in chunks of the batch size."""
        size = self.lib.llama_n_batch(self.ctx)
        for start in range(0, len(items), size):
            chunk = items[start:start + size]
            b = self.batch
            b.n_tokens = len(chunk)
            for i, (tok, pos, seq, logits) in enumerate(chunk):
                b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = tok, pos, 1, logits
                b.seq_id[i][0] = seq
            if self.lib.llama_decode(self.ctx, b) != 0:
                raise RuntimeError("llama_decode failed")

    def argmax(self, i: int) -> int:
        import numpy as np

        row = np.ctypeslib.as_array(self.lib.llama_get_logits_ith(self.ctx, i), shape=(self.n_vocab,))
        return int(row.argmax())


def prefill_items(prompts: list[list[int]], seqs: list[int]) -> list[tuple[int, int, int, bool]]:
    return [(t, pos, seq, pos == len(p) - 1) for p, seq in zip(prompts, seqs) for pos, t in enumerate(p)]


def run_prefill(b: Batcher, prompts: list[list[int]], together: bool) -> float:
    """Seconds to evaluate every prompt, each in its own sequence: in one multi-sequence batch, or one by one."""
    b.clear()
    start = time.perf_counter()
    if together:
        b.decode(prefill_items(prompts, list(range(len(prompts)))))
    else:
        for seq, p in enumerate(prompts):
            b.decode(prefill_items([p], [seq]))
    return time.perf_counter() - start


def run_decode(b: Batcher, prompts: list[list[int]], new_tokens: int, together: bool) -> float:
    """Seconds for every sequence to produce ``new_tokens`` greedy tokens after its prompt (prefill not timed)."""
    b.clear()
    for seq, p in enumerate(prompts):
        b.decode(prefill_items([p], [seq]))
    last = [b.argmax(-1)] * len(prompts)  # the step's input token; its value does not change the cost
    start = time.perf_counter()
    if together:
        for step in range(new_tokens):
            b.decode([(last[s], len(p) + step, s, True) for s, p in enumerate(prompts)])
            last = [b.argmax(i) for i in range(len(prompts))]
    else:
        for s, p in enumerate(prompts):
            tok = last[s]
            for step in range(new_tokens):
                b.decode([(tok, len(p) + step, s, True)])
                tok = b.argmax(-1)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="4,8,16", help="sequences per batch (comma-separated)")
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--alone-s", type=float, default=2.5, help="one summary alone, for the latency floor "
                        "(bench/app_load.py measured 2.5 s)")
    args = parser.parse_args(argv)
    import llama_cpp

    model = llama_cpp.Llama(str(embedded_gguf(DEFAULT_MODEL)), n_ctx=512, n_threads=args.threads, verbose=False)
    fmt = default_format(DEFAULT_MODEL, True)
    template = model.metadata.get("tokenizer.chat_template")
    sizes = [int(x) for x in args.n.split(",")]
    dialogs = load_split("test", limit=max(sizes))
    prompts = [model.tokenize(build_summary_prompt(d, fmt, template=template).text.encode(), add_bos=False, special=True)
               for d in dialogs]
    print(f"{DEFAULT_MODEL}, {args.threads} threads; TweetSumm test summary prompts, mean "
          f"{sum(map(len, prompts)) / len(prompts):.0f} tokens; {args.new_tokens} new tokens per sequence\n")
    print("| sequences | prefill tok/s single | batched | ratio | decode tok/s single | batched | ratio |")
    print("|---|---|---|---|---|---|---|")
    rows = {}
    for n in sizes:
        batch = prompts[:n]
        b = Batcher(model, n, max(map(len, batch)) + args.new_tokens + 8, args.threads)
        tokens = sum(map(len, batch))
        single_p = run_prefill(b, batch, together=False)
        batched_p = run_prefill(b, batch, together=True)
        single_d = run_decode(b, batch, args.new_tokens, together=False)
        batched_d = run_decode(b, batch, args.new_tokens, together=True)
        rows[n] = (tokens / single_p, tokens / batched_p, n * args.new_tokens / single_d, n * args.new_tokens / batched_d)
        r = rows[n]
        print(f"| {n} | {r[0]:.0f} | {r[1]:.0f} | {r[1] / r[0]:.2f}x | {r[2]:.1f} | {r[3]:.1f} | {r[3] / r[2]:.2f}x |")
    n = max(sizes)
    prefill_rate = max(rows[n][0], rows[n][1])
    mean_prompt = sum(map(len, prompts[:n])) / n
    floor = (n / 2) * mean_prompt / prefill_rate
    print(f"\n{n} people at once: the median request waits at least {floor:.1f} s for half the prompts' prefill "
          f"({mean_prompt:.0f} tokens each at {prefill_rate:.0f} tok/s, the better of single and batched), before "
          f"any decoding: {floor / args.alone_s:.1f}x one summary alone ({args.alone_s} s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
