"""Write TweetSumm as formatted (prompt, completion) splits and print dataset statistics.

    python -m training.prepare                                   # embedded default model, first summary
    python -m training.prepare --model meta-llama/Llama-2-7b-chat-hf --targets all --out runs/data/llama2

Writes ``OUT/{train,valid,test}.jsonl`` and ``OUT/stats.json`` (counts, token lengths, a sha256
fingerprint of each split) and prints a table. TweetSumm is read from ``--data-dir`` (default
``$SUPPORTLENS_TWEETSUMM`` or ``../shared/data/tweetsumm``; the official release layout works too).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
from pathlib import Path

from assistant.errors import SupportLensError
from assistant.models import DEFAULT_MODEL, resolve_model
from assistant.prompts import default_format
from training.data import build_examples
from training.tweetsumm import SPLITS, load_split


def length_stats(values: list[int]) -> dict[str, float]:
    """Mean, median, 90th percentile and max of token lengths."""
    ordered = sorted(values)
    return {"mean": round(statistics.mean(ordered), 1), "p50": ordered[len(ordered) // 2],
            "p90": ordered[int(0.9 * (len(ordered) - 1))], "max": ordered[-1]}


def main(argv: list[str] | None = None) -> int:
    """Prepare the splits; returns a process exit code."""
    parser = argparse.ArgumentParser(description="Format TweetSumm for fine-tuning and print statistics.")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model whose tokenizer/template to use")
    parser.add_argument("--format", default="auto", choices=["auto", "llama2", "chat_template"])
    parser.add_argument("--targets", default="first", choices=["first", "all"], help="first abstractive summary (seed) or all")
    parser.add_argument("--data-dir", default=None, help="TweetSumm folder")
    parser.add_argument("--out", default=None, help="output folder (default runs/data/<model>-<format>-<targets>)")
    args = parser.parse_args(argv)
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(resolve_model(args.model, "transformers").path)
        template = getattr(tok, "chat_template", None)
        fmt = default_format(args.model, template is not None) if args.format == "auto" else args.format
        out = Path(args.out or f"runs/data/{Path(args.model).name}-{fmt}-{args.targets}")
        out.mkdir(parents=True, exist_ok=True)
        stats: dict[str, object] = {"model": args.model, "format": fmt, "targets": args.targets, "splits": {}}
        print(f"{'split':<6} {'examples':>8} {'prompt tok mean/p90/max':>24} {'target tok mean/max':>20}")
        for split in SPLITS:
            examples = list(build_examples(load_split(split, args.data_dir), fmt, targets=args.targets, template=template,
                                           bos_token=tok.bos_token or "", eos_token=tok.eos_token or ""))
            lines = [json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in examples]
            (out / f"{split}.jsonl").write_text("".join(lines), encoding="utf-8")
            p_len = [len(tok(e.prompt, add_special_tokens=False)["input_ids"]) for e in examples]
            c_len = [len(tok(e.completion, add_special_tokens=False)["input_ids"]) for e in examples]
            row = {"examples": len(examples), "prompt_tokens": length_stats(p_len), "completion_tokens": length_stats(c_len),
                   "total_tokens": sum(p_len) + sum(c_len),
                   "sha256": hashlib.sha256("".join(lines).encode()).hexdigest()}
            stats["splits"][split] = row  # type: ignore[index]
            p, c = row["prompt_tokens"], row["completion_tokens"]
            print(f"{split:<6} {len(examples):>8} {p['mean']:>10}/{p['p90']}/{p['max']:<8} {c['mean']:>12}/{c['max']}")
        (out / "stats.json").write_text(json.dumps(stats, indent=2))
        print(f"wrote {out}/{{train,valid,test}}.jsonl and stats.json")
    except (SupportLensError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
