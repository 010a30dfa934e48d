"""Seconds per audit with a playbook of realistic size (60 prose rules) against the 10-rule sample, same dialogs.

    python bench/audit_playbook_size.py [--n 5] [--k 12] [--large bench/playbooks/northwind-60-rules.md]

Builds two knowledge bases in a temporary folder (or ``--root``, where compiled plans are kept for a rerun): the
10-rule prose edition of the sample playbook (the reference, measured in the same run) and the 60-rule Northwind
manual, compiling each rule's check plan with the audit model (timed: it happens once per rule, at ingestion).
Then audits the same ``--n`` TweetSumm validation dialogs with both, interleaved, and prints per playbook: rules,
rules that always apply, rules judged per audit (always + at most k triggered), the median seconds per audit and
its ratio to the 10-rule reference. Bounded means: the ratio follows the rules judged, not the rules stored.
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

from assistant.audit_service import build_auditor, compile_knowledge_base  # noqa: E402
from assistant.config import load_config  # noqa: E402
from knowledge_base.embedder import make_embedder  # noqa: E402
from knowledge_base.store import KnowledgeBase  # noqa: E402
from training.tweetsumm import iter_split  # noqa: E402

SMALL = REPO / "eval" / "audit_dev" / "brightline-prose-playbook.md"
LARGE = REPO / "bench" / "playbooks" / "northwind-60-rules.md"


def main(argv: list[str] | None = None) -> int:
    """Build, compile, audit, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5, help="dialogs audited with each playbook")
    parser.add_argument("--k", type=int, default=12, help="triggered rules judged per audit (audit_k)")
    parser.add_argument("--large", default=str(LARGE))
    parser.add_argument("--root", default=None, help="where the stores live (kept: compiled plans are reused)")
    args = parser.parse_args(argv)
    root = Path(args.root or tempfile.mkdtemp(prefix="supportlens-bench-"))
    config = load_config(None, audit_k=args.k)
    embedder = make_embedder()
    auditors, rows = {}, {}
    generator = None
    for name, path in (("10-rule sample (prose)", SMALL), ("60-rule Northwind", Path(args.large))):
        kb = KnowledgeBase("small" if name.startswith("10") else "large", embedder, root=root)
        kb.build([path])
        start = time.perf_counter()
        auditor = build_auditor(kb, config=config, generator=generator)
        generator = auditor.generator
        compiled, reused = compile_knowledge_base(kb, config, generator, progress=lambda d, t: print(
            f"\r{name}: compiling rule {d}/{t}", end="\n" if d == t else "", file=sys.stderr, flush=True))
        rules = len(kb.rules())
        plans = auditor.retriever.plans()
        rows[name] = {"rules": rules, "always": sum(p.always for p in plans.values()), "compiled": compiled,
                      "compile_s": time.perf_counter() - start, "times": [], "judged": []}
        auditors[name] = auditor
    dialogs = [c for _, c in zip(range(args.n), iter_split("valid"))]
    for i, conv in enumerate(dialogs, start=1):
        for name, auditor in auditors.items():  # interleaved: machine noise hits both alike
            start = time.perf_counter()
            report = auditor.audit(conv)
            rows[name]["times"].append(time.perf_counter() - start)
            rows[name]["judged"].append(len(report.findings))
        print(f"dialog {i}/{len(dialogs)} done", file=sys.stderr, flush=True)
    reference = statistics.median(rows["10-rule sample (prose)"]["times"])
    print(f"\n{len(dialogs)} TweetSumm validation dialogs, audit_k {args.k}\n")
    print("| playbook | rules | always apply | judged per audit (median) | compile s (rules compiled) "
          "| median s per audit | vs 10-rule |\n|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        median = statistics.median(r["times"])
        print(f"| {name} | {r['rules']} | {r['always']} | {statistics.median(r['judged']):.0f} | "
              f"{r['compile_s']:.0f} ({r['compiled']}) | {median:.1f} | {median / reference:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
