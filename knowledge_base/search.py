"""Search an organisation's knowledge base: the guideline chunks closest to a query, best first.

    python -m knowledge_base.search --org acme "agent asked for the customer's password" [-k 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from assistant.errors import SupportLensError


def main(argv: list[str] | None = None) -> int:
    """Print the hits (text, or JSON with --json); errors print as ``error: ...`` with exit status 2."""
    parser = argparse.ArgumentParser(prog="python -m knowledge_base.search", description=__doc__.split("\n")[0])
    parser.add_argument("--org", required=True, help="organisation name")
    parser.add_argument("--root", help="folder holding the stores (default: $SUPPORTLENS_KB or ~/.local/share/supportlens/kb)")
    parser.add_argument("-k", type=int, default=5, help="how many chunks to return (default 5)")
    parser.add_argument("--json", action="store_true", help="print a JSON list of {score, id, source, heading, rule_id, text}")
    parser.add_argument("query", help="what to look for")
    args = parser.parse_args(argv)
    from knowledge_base import embedder
    from knowledge_base.store import KnowledgeBase

    try:
        hits = KnowledgeBase(args.org, embedder.make_embedder(), root=args.root).search(args.query, k=args.k)
    except SupportLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([{"score": round(h.score, 4), **asdict(h.chunk)} for h in hits], indent=2, ensure_ascii=False))
        return 0
    for rank, hit in enumerate(hits, start=1):
        rule = f" [{hit.chunk.rule_id}]" if hit.chunk.rule_id else ""
        print(f"{rank}. {hit.score:.3f}{rule} {hit.chunk.heading}  ({hit.chunk.source})")
        if hit.chunk.text:
            print("   " + hit.chunk.text[:300].replace("\n", "\n   ") + ("..." if len(hit.chunk.text) > 300 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
