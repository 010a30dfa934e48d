"""List the documents in an organisation's knowledge base, with their chunk counts and rule ids.

    python -m knowledge_base.list --org acme [--root DIR]
"""

from __future__ import annotations

import argparse
import sys

from assistant.errors import SupportLensError


def format_table(rows: list[tuple[str, str, str, str]]) -> str:
    """Left-aligned columns under a header row."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def main(argv: list[str] | None = None) -> int:
    """Print the table; errors print as ``error: ...`` with exit status 2."""
    parser = argparse.ArgumentParser(prog="python -m knowledge_base.list", description=__doc__.split("\n")[0])
    parser.add_argument("--org", required=True, help="organisation name")
    parser.add_argument("--root", help="folder holding the stores (default: $SUPPORTLENS_KB or ~/.local/share/supportlens/kb)")
    args = parser.parse_args(argv)
    from knowledge_base import embedder
    from knowledge_base.store import KnowledgeBase

    try:
        documents = KnowledgeBase(args.org, embedder.make_embedder(), root=args.root).documents()
    except SupportLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not documents:
        print(f"{args.org}: no documents")
        return 0
    rows = [("DOCUMENT", "KIND", "CHUNKS", "RULES")]
    rows += [(d.source, d.kind, str(d.chunk_count), " ".join(d.rule_ids) or "-") for d in documents]
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
