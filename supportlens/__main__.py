"""Command line: ``python -m supportlens summarize|audit|prepare ...``.

Examples::

    python -m supportlens summarize conversation.txt
    python -m supportlens summarize chat-export.txt --agent Sarah          # names, not labels: Sarah is the agent
    cat conversation.json | python -m supportlens summarize - --json
    python -m supportlens audit conversation.txt --org brightline        # JSON findings against the org's guidelines
    python -m supportlens audit conversation.txt --org brightline --with-summary --audit-model qwen2.5-coder-1.5b-instruct
    python -m supportlens prepare            # assemble and verify the embedded models; check llama.cpp runs them here
    python -m supportlens plans --org brightline                    # each rule's check plan, in words
    python -m supportlens plans --org brightline --set G2 --spec '{"applies": "when", ...}'   # correct one
    python -m supportlens plans --org brightline --reset G2         # back to the compiled plan
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from assistant.config import AssistantConfig, load_config
from assistant.conversation import decode_input
from assistant.errors import SupportLensError


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML config file (default: $SUPPORTLENS_CONFIG)")
    for f in fields(AssistantConfig):
        flag = "--" + f.name.replace("_", "-")
        # the audit's settings keep their short flags too (--k, --yes-bias, --scorer); not the audit's model and
        # adapter, whose short flags are the summary's
        short = flag.startswith("--audit-") and f.name not in ("audit_model", "audit_adapter")
        flags = (flag, "--" + flag[8:]) if short else (flag,)
        if f.type in ("bool",):
            p.add_argument(*flags, dest=f.name, default=None, action=argparse.BooleanOptionalAction, help=f.metadata.get("help"))
        else:
            p.add_argument(*flags, dest=f.name, default=None, help=f.metadata.get("help"))


def _add_agent_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--agent", action="append", metavar="NAME",
                   help="a speaker who is the company's agent (repeatable or comma-separated; first or full name): "
                        "decides roles when a transcript has names instead of Customer/Agent labels")


def _config(args: argparse.Namespace) -> AssistantConfig:
    names = {f.name for f in fields(AssistantConfig)}
    return load_config(args.config, **{k: v for k, v in vars(args).items() if k in names})


def _progress(done: int, total: int) -> None:
    if done == total or done % (64 << 20) < (4 << 20):
        print(f"\rassembling model: {done / total:6.1%}", end="\n" if done == total else "", file=sys.stderr, flush=True)


def _parts_progress(done: int, total: int) -> None:
    print(f"\rsummarizing part {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)


def _read(path: str) -> str | None:
    """The text of a conversation file (or stdin for ``-``); None after printing why it cannot be read."""
    try:
        return decode_input(sys.stdin.buffer.read() if path == "-" else open(path, "rb").read())
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return None


def _conversation(args: argparse.Namespace, text: str, config: AssistantConfig):  # noqa: ANN202 - Conversation
    """Parse ``text`` with the agents named on the command line; say on stderr who was taken for whom."""
    from assistant.conversation import agent_names, parse_conversation, roles_line

    conv = parse_conversation(text, agents=agent_names(*args.agent or ()), max_chars=config.max_input_chars)
    if conv.meta.get("roles"):
        print(f"roles: {roles_line(conv)}  (wrong? name the agents with --agent NAME)", file=sys.stderr)
    return conv


def cmd_summarize(args: argparse.Namespace) -> int:
    """Summarize one conversation file (or stdin) and print the summary."""
    from assistant.backends import load_generator
    from assistant.summarize import Summarizer

    config = _config(args)  # a bad config fails before anything is read or loaded
    text = _read(args.file)
    if text is None:
        return 2
    conv = _conversation(args, text, config)  # a bad paste fails before the model is loaded
    summarizer = Summarizer(load_generator(config, _progress), config)
    summary = summarizer.summarize(conv, progress=_parts_progress)
    if summary.parts > 1:
        print(f"(summarized in {summary.parts} parts: the conversation is longer than the model's context)",
              file=sys.stderr)
    support = None
    if config.support_check:
        from assistant.errors import SupportLensError
        from assistant.support import SupportChecker, SupportReport
        from knowledge_base import embedder

        checker = SupportChecker(embedder.make_embedder(), config.support_threshold)
        try:
            support = checker.check(conv, summary.text)
        except Exception as exc:  # noqa: BLE001 - the summary stands whatever the check hit; the check says why
            reason = str(exc) if isinstance(exc, SupportLensError) else f"{type(exc).__name__}: {exc}"
            support = SupportReport(checker.name, checker.threshold, skipped=reason)
    if args.json:
        print(json.dumps({**summary.to_dict(), **({"support": support.to_dict()} if support else {})},
                         ensure_ascii=False, indent=2))
    else:
        print(summary.text)
    if support and support.skipped:
        print(f"support check skipped: {support.skipped}", file=sys.stderr)
    elif support and support.doubted:
        print(f"support check ({support.model}): {len(support.doubted)} of {len(support.sentences)} sentences are not "
              f"clearly supported by the conversation:", file=sys.stderr)
        for s in support.doubted:
            print(f"  [support {s.support:.2f}] {s.sentence}", file=sys.stderr)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """Audit one conversation against the organisation's guidelines; print JSON findings and the audit trail."""
    from assistant.audit_service import build_auditor
    from knowledge_base.store import open_knowledge_base

    config = _config(args)
    kb = open_knowledge_base(args.org, args.kb_root)
    kb.chunks()  # a missing, corrupt or mismatched store fails here, before any model is loaded
    text = _read(args.file)
    if text is None:
        return 2
    conv = _conversation(args, text, config)
    auditor = build_auditor(kb, config=config)
    progress = (lambda done, total: print(f"\rjudging guideline {done}/{total}", end="\n" if done == total else "",
                                          file=sys.stderr, flush=True)) if not args.quiet else None
    report = auditor.audit(conv, progress=progress).to_dict()
    report["org"] = args.org
    if args.with_summary:
        from assistant.backends import load_generator
        from assistant.summarize import Summarizer

        summary = Summarizer(load_generator(config), config).summarize(conv, progress=_parts_progress)
        report = {"summary": summary.to_dict(), **report}
    if not args.trail:
        report.pop("trail")
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    """Assemble and verify the embedded summary and audit models (converted for transformers with --backend transformers),
    and the trained audit judge when the config uses one."""
    from assistant.models import resolve_model

    config = _config(args)
    failed = 0
    # the summary model, then the audit judge, then the model that compiles rules and answers questions
    for model in dict.fromkeys((config.model, config.audit_model, config.compile_model)):
        resolved = resolve_model(model, config.backend, _progress)
        print(f"{resolved.name}: {resolved.path}")
        if resolved.kind == "gguf" and not args.no_check:  # native code: prove it runs on this CPU first
            from assistant.preflight import cpu_info, llama_build, run_check

            outcome = run_check(resolved.name, Path(resolved.path))
            if outcome.ok:
                print(f"  {outcome.message(cpu_info(), '')}")
            else:
                failed += 1
                print(f"error: {outcome.message(cpu_info(), llama_build())}", file=sys.stderr)
    folder = config.audit_judge_path()  # a trained judge: its encoder ships with the knowledge base's
    if folder is not None:
        from assistant.encoder_judge import EncoderJudge

        print(f"{EncoderJudge(folder).model_name}: {folder} (trained audit judge)")
    return 3 if failed else 0


def cmd_plans(args: argparse.Namespace) -> int:
    """Show each rule's check plan; store or remove a manager's override; compile what is missing."""
    from assistant.audit_service import compile_knowledge_base
    from knowledge_base.store import open_knowledge_base
    from assistant.plans import Plan, Spec, from_spec, spec_of

    kb = open_knowledge_base(args.org, args.kb_root)
    texts = kb.rule_texts()
    if args.set:
        raw = _read(args.spec[1:]) if args.spec.startswith("@") else args.spec
        if raw is None:
            return 2
        try:
            data = json.loads(raw)
        except ValueError as exc:
            print(f"error: --spec is not JSON ({exc}); write it like: {json.dumps(SPEC_EXAMPLE)}", file=sys.stderr)
            return 2
        if args.set not in texts:
            print(f"error: no rule {args.set!r} in {args.org!r} (rules: {', '.join(texts) or 'none'})", file=sys.stderr)
            return 2
        spec = Spec.from_dict(data)
        plan = from_spec(args.set, *texts[args.set], spec, "override")
        kb.set_override(args.set, {"plan": plan.to_dict()})
        print(f"{args.set}: override stored; it is kept when the knowledge base is rebuilt.", file=sys.stderr)
    if args.reset:
        kb.set_override(args.reset, None)
        print(f"{args.reset}: override removed; the compiled plan applies again.", file=sys.stderr)
    if args.compile or args.recompile:
        compiled, reused = compile_knowledge_base(kb, _config(args), force=args.recompile,
                                                  progress=lambda d, t: print(f"\rcompiling rule {d}/{t}", end="\n" if d == t else "",
                                                                              file=sys.stderr, flush=True))
        print(f"{compiled} compiled, {reused} unchanged", file=sys.stderr)
    plans = {r: Plan.from_dict(d) for r, d in kb.plans().items()}
    rows = []
    for rule_id, (heading, _) in texts.items():
        plan = plans.get(rule_id)
        rows.append({"rule_id": rule_id, "heading": heading, "origin": plan.origin if plan else None,
                     "needs_review": plan.needs_review if plan else True,
                     "plan": plan.describe() if plan else "not compiled yet: run with --compile",
                     "spec": spec_of(plan).__dict__ if plan else None})
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for row in rows:
            flag = "  [needs review]" if row["needs_review"] else ""
            print(f"{row['rule_id']}: {row['heading']}  ({row['origin'] or 'not compiled'}){flag}")
            print("".join(f"    {line}\n" for line in row["plan"].splitlines()))
    return 0


SPEC_EXAMPLE = {"applies": "when", "trigger": "Does this message mention a refund?", "trigger_in": "anyone",
                "scope": "no_reply", "question": "Does this reply promise a refund?"}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m supportlens`` and the ``supportlens`` script."""
    parser = argparse.ArgumentParser(prog="python -m supportlens", description="SupportLens assistant")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("summarize", help="summarize a conversation file ('-' for stdin)")
    p.add_argument("file", help="conversation file, or - for stdin")
    p.add_argument("--json", action="store_true", help="print the summary with model, backend and timings as JSON")
    _add_agent_arg(p)
    _add_config_args(p)
    p.set_defaults(func=cmd_summarize)
    p = sub.add_parser("audit", help="audit a conversation against an organisation's guidelines (JSON)")
    p.add_argument("file", help="conversation file, or - for stdin")
    p.add_argument("--org", required=True, help="organisation whose knowledge base holds the guidelines")
    p.add_argument("--kb-root", default=None, help="knowledge base folder (default: $SUPPORTLENS_KB)")
    p.add_argument("--with-summary", action="store_true", help="also summarize the conversation (summary first)")
    p.add_argument("--trail", action="store_true", help="include the raw model answers in the output")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    _add_agent_arg(p)
    _add_config_args(p)
    p.set_defaults(func=cmd_audit)
    p = sub.add_parser("prepare", help="assemble, verify (and convert) the configured models; check that llama.cpp "
                                      "runs them on this CPU")
    p.add_argument("--no-check", action="store_true", help="skip the test generation in a child process")
    _add_config_args(p)
    p.set_defaults(func=cmd_prepare)
    p = sub.add_parser("plans", help="show each guideline's check plan (what an audit asks), correct one, or "
                                     "compile what is missing")
    p.add_argument("--org", required=True, help="organisation whose knowledge base holds the guidelines")
    p.add_argument("--kb-root", default=None, help="knowledge base folder (default: $SUPPORTLENS_KB)")
    p.add_argument("--set", metavar="RULE_ID", help="store an override of this rule's plan (with --spec)")
    p.add_argument("--spec", help="the override as JSON (or @file): applies (always|when), trigger (\"Does this "
                                  "message ...?\"), trigger_in (customer|agent|anyone), scope (first_reply|last_reply|"
                                  "every_reply|any_reply|no_reply|conversation), question (\"Does this reply ...?\")")
    p.add_argument("--reset", metavar="RULE_ID", help="remove this rule's override")
    p.add_argument("--compile", action="store_true", help="compile the plans of rules that have none for their text")
    p.add_argument("--recompile", action="store_true", help="compile every rule again")
    p.add_argument("--json", action="store_true", help="print the plans as JSON")
    _add_config_args(p)
    p.set_defaults(func=cmd_plans)
    args = parser.parse_args(argv)
    if getattr(args, "set", None) and not getattr(args, "spec", None):
        parser.error("--set RULE_ID needs --spec JSON")
    try:
        return args.func(args)
    except SupportLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
