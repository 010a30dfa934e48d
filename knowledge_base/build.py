"""Build or update an organisation's knowledge base from guideline files (Markdown, text, PDF) or folders.

    python -m knowledge_base.build --org acme knowledge_base/samples/
    python -m knowledge_base.build --org acme --rebuild docs/guidelines/      # re-embed; drop files not given
    python -m knowledge_base.build --org acme --delete old-policy.md          # remove one document

Unchanged files cost nothing; only new or changed ones are embedded. Each rule is then compiled into the check
plan audits ask (assistant.plans; ``python -m supportlens plans --org acme`` shows them): rules with Followed /
Violated clauses at once, others with the audit model, a few seconds each; an unchanged rule keeps its stored
plan. ``--no-compile`` leaves that to the first audit. ``--root`` (or ``$SUPPORTLENS_KB``) says where stores
live; ``$SUPPORTLENS_EMBEDDER`` may name another sentence-transformers model folder.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from assistant.errors import SupportLensError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line arguments; FILES and --delete exclude each other, one of them is required."""
    parser = argparse.ArgumentParser(prog="python -m knowledge_base.build", description=__doc__.split("\n")[0])
    parser.add_argument("--org", required=True, help="organisation name (lowercase letters, digits, '-', '_')")
    parser.add_argument("--root", help="folder holding the stores (default: $SUPPORTLENS_KB or ~/.local/share/supportlens/kb)")
    parser.add_argument("--rebuild", action="store_true", help="re-embed everything and keep only the files given")
    parser.add_argument("--delete", metavar="FILE_NAME", action="append", default=[],
                        help="remove the stored document with this file name (repeatable)")
    parser.add_argument("--no-compile", action="store_true",
                        help="do not compile the rules' check plans now (the first audit compiles them)")
    parser.add_argument("--config", help="YAML config naming the audit model that compiles rules (audit_model)")
    parser.add_argument("paths", nargs="*", metavar="FILES_OR_DIRS", help=".md/.markdown/.txt/.pdf files or folders")
    args = parser.parse_args(argv)
    if bool(args.paths) == bool(args.delete):
        parser.error("give FILES_OR_DIRS to build, or --delete FILE_NAME, not both")
    if args.rebuild and args.delete:
        parser.error("--rebuild builds from FILES_OR_DIRS; it cannot be combined with --delete")
    return args


def tqdm_progress(desc: str = "embedding", unit: str = "chunk") -> Callable[[int, int], None]:
    """A progress(done, total) callback drawing a tqdm bar on stderr, created on the first call."""
    state: dict = {}

    def update(done: int, total: int) -> None:
        """Advance the bar to ``done`` of ``total``."""
        from tqdm import tqdm

        bar = state.setdefault("bar", tqdm(total=total, desc=desc, unit=unit, file=sys.stderr))
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def main(argv: list[str] | None = None) -> int:
    """Run the build (or deletions) and print the report; errors print as ``error: ...`` with exit status 2."""
    args = parse_args(argv)
    from knowledge_base import embedder
    from knowledge_base.store import KnowledgeBase

    try:
        kb = KnowledgeBase(args.org, embedder.make_embedder(), root=args.root)
        if args.delete:
            for name in args.delete:
                print(kb.delete(name).summary())
        else:
            print(kb.build(args.paths, progress=tqdm_progress(), rebuild=args.rebuild).summary())
        if not args.no_compile and kb.rules():
            # compiling needs the writing model and the judge: the one step of ingestion that reaches into the assistant layer
            from assistant.audit_service import compile_knowledge_base
            from assistant.config import load_config

            compiled, reused = compile_knowledge_base(kb, load_config(args.config),
                                                      progress=tqdm_progress("compiling rules", "rule"))
            print(f"{args.org}: check plans: {compiled} compiled, {reused} unchanged; "
                  f"see them with: python -m supportlens plans --org {args.org}")
    except SupportLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
