"""Seconds per audit: the trained judge against the language-model judge (the reference), same dialogs, same run.

    python bench/audit_judge_speed.py [--n 3] [--model qwen2.5-coder-1.5b-instruct]

One knowledge base holds the 10-rule sample playbook (its clause edition: no rule needs compiling, so both judges
ask the same checks). The same ``--n`` TweetSumm validation dialogs are audited with ``audit_judge: model`` (the
language model ``--model`` by its next-token P(yes): the reference) and with the trained judge, interleaved, after
one warm-up audit each (model loading is not timed). Prints the median seconds per audit, the ratio, and how many
verdicts the two judges share (a speed bench: quality is eval.audit's business, on human labels).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assistant.audit_service import build_auditor  # noqa: E402
from assistant.config import load_config  # noqa: E402
from knowledge_base.embedder import make_embedder  # noqa: E402
from knowledge_base.store import KnowledgeBase  # noqa: E402
from training.tweetsumm import iter_split  # noqa: E402

PLAYBOOK = REPO / "knowledge_base" / "samples" / "brightline-social-care-playbook.md"


def main(argv: list[str] | None = None) -> int:
    """Build, audit with both judges, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=3, help="dialogs audited with each judge")
    parser.add_argument("--model", default=None, help="the language-model judge (default: audit_model)")
    parser.add_argument("--judge", default="trained", help="the trained judge (default: the shipped one)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    dialogs = [c for _, c in zip(range(args.n + 1), iter_split("valid", args.data_dir))]
    with tempfile.TemporaryDirectory() as root:
        kb = KnowledgeBase("bench", make_embedder(), root=root)
        kb.build([PLAYBOOK])
        judges = {
            "language model (reference)": build_auditor(kb, config=load_config(
                None, audit_judge="model", **({"audit_model": args.model} if args.model else {}))),
            "trained judge": build_auditor(kb, config=load_config(None, audit_judge=args.judge)),
        }
        seconds: dict[str, list[float]] = {name: [] for name in judges}
        verdicts: dict[str, list[str]] = {name: [] for name in judges}
        for name, auditor in judges.items():
            auditor.audit(dialogs[0])  # warm-up: loads the model
        for conv in dialogs[1:]:
            for name, auditor in judges.items():
                start = time.perf_counter()
                report = auditor.audit(conv)
                seconds[name].append(time.perf_counter() - start)
                verdicts[name] += [f.verdict for f in report.findings]
    reference = statistics.median(seconds["language model (reference)"])
    print(f"| judge | model | median s per audit (10 rules, {args.n} dialogs) | vs reference |\n|---|---|---|---|")
    for name, auditor in judges.items():
        median = statistics.median(seconds[name])
        print(f"| {name} | {auditor.model_name} | {median:.2f} | {median / reference:.3f}x |")
    same = sum(a == b for a, b in zip(*verdicts.values()))
    print(f"\nSame verdict from both judges: {same} of {len(verdicts['trained judge'])} findings.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
