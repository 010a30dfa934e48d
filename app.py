"""SupportLens web app for support managers: streaming summaries, audits against guidelines, knowledge bases.

    python app.py                                  # http://127.0.0.1:7860, embedded default model
    SUPPORTLENS_AUTH=alice:secret python app.py --host 0.0.0.0    # exposed: a login is required

Only UI wiring lives here: one small handler per action (module level, bound to the services), one builder per
tab, one translation of failures (``user_error``). The logic is in ``assistant`` (service, summarize, audit,
access) and ``knowledge_base``.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402 - the UI module: gradio is what it is for

from assistant.access import check_exposure, load_credentials  # noqa: E402
from assistant.config import load_config  # noqa: E402
from assistant.errors import SupportLensError  # noqa: E402
from assistant.batch import Worker, endpoint_workers, export, read_batch, run_batch_on, work_dir  # noqa: E402
from assistant.conversation import (  # noqa: E402
    Conversation, agent_names, decode_input, parse_conversation, roles_line, swap_roles,
)
from assistant.formats import FORMAT_NAMES  # noqa: E402
from assistant.support import marked  # noqa: E402
from eval.report import bertscore_note, headline_rows, load_results, markdown_table, paired_rows, side_by_side  # noqa: E402
from supportlens.service import AuditService, Example, SummaryService, example_conversations  # noqa: E402

REPO = Path(__file__).resolve().parent
EVAL_DIRS = (REPO / "eval" / "results", REPO / "runs" / "eval")  # committed results, then local runs
PLACEHOLDER = "Customer: my order hasn't arrived...\nAgent: Sorry to hear that, can you DM us the order number?"
FINDING_COLUMNS = ["rule", "guideline", "verdict", "confidence", "evidence", "rationale", "decided by"]
PLAN_COLUMNS = ["rule", "heading", "made by", "review", "what the audit asks"]
TURN_COLUMNS = ["#", "role", "name", "time", "text"]
BATCH_COLUMNS = ["row", "id", "summary", "compliance", "violated", "error"]
log = logging.getLogger("supportlens.app")


# ---- the one translation of failures -------------------------------------------------------------------------

def user_error(exc: BaseException) -> gr.Error:
    """The one translation of a failure into what the browser shows: our domain errors say what to change; an
    unexpected failure (a model backend raising, a file vanishing) is logged with its traceback and reported
    as this request's failure, while the server goes on serving every other tab and request."""
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, SupportLensError):
        return gr.Error(str(exc), print_exception=False)
    if isinstance(exc, OSError):
        return gr.Error(f"A file could not be read or written: {exc}", print_exception=False)
    log.error("request failed", exc_info=exc)
    return gr.Error(f"This request failed inside the model or the app ({type(exc).__name__}: {exc}). Nothing else "
                    "is affected: try again. If it keeps failing, run `python -m supportlens prepare` and read the "
                    "server log.", print_exception=False)


def handler(fn: Callable, services: Services) -> Callable:
    """``fn`` bound to ``services``, with every failure turned into ``user_error`` (generators stay generators)."""
    bound = functools.partial(fn, services)
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(bound)
        def stream(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            try:
                yield from bound(*args, **kwargs)
            except Exception as exc:
                raise user_error(exc) from exc
        wrapper = stream
    else:
        @functools.wraps(bound)
        def call(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            try:
                return bound(*args, **kwargs)
            except Exception as exc:
                raise user_error(exc) from exc
        wrapper = call
    wrapper.__name__ = wrapper.__qualname__ = fn.__name__
    return wrapper


# ---- what the app reads and shows (pure) ---------------------------------------------------------------------

@dataclass(frozen=True)
class Services:
    """What the handlers work with: the summary service and the audit service (knowledge bases, judge)."""

    summaries: SummaryService
    audits: AuditService


def last(values):  # noqa: ANN001, ANN201
    """The last value of an iterator (the finished summary of a stream)."""
    value = None
    for value in values:
        pass
    return value


def findings_rows(report) -> list[list[str]]:  # noqa: ANN001 - assistant.audit.AuditReport
    """The findings table shown in the Audit tab."""
    return [[f.rule_id or "", f.guideline, f.verdict, "" if f.confidence is None else f"{f.confidence:.0%}", f.evidence,
             f.rationale, f.decided_by] for f in report.findings]


def read_paste(text: str, agents: str = "", swap: bool = False, require_both: bool = True) -> Conversation:
    """The pasted conversation with the roles the manager set: agent names (comma-separated) and the swap."""
    conv = parse_conversation(text, agents=agent_names(agents or ""), require_both=require_both)
    return swap_roles(conv) if swap else conv


def paste_preview(text: str, agents: str = "", swap: bool = False) -> tuple[str, list[list]]:
    """What the app read from a paste, before any model runs: the format, who is who and why, every turn."""
    if not (text or "").strip():
        return "", []
    try:
        conv = read_paste(text, agents, swap, require_both=False)
    except SupportLensError as exc:
        return f"⚠️ {exc}", []
    fmt = conv.meta.get("format", "")
    line = f"**Read as** {FORMAT_NAMES.get(fmt, fmt or 'labelled turns')}: {len(conv.turns)} messages."
    if conv.meta.get("roles"):
        line += f" **Who is who:** {roles_line(conv)}. Wrong? Name the agents or swap the roles."
    return line, [[i, t.speaker, t.name or "", t.time or "", t.text if len(t.text) <= 300 else t.text[:300] + "…"]
                  for i, t in enumerate(conv.turns, start=1)]


def read_upload(path: str | None, text: str) -> str:
    """The uploaded file's text if there is one, else the pasted text."""
    if path:
        with open(path, "rb") as f:
            return decode_input(f.read())
    return text or ""


def eval_runs() -> list[tuple[str, str]]:
    """Results folders for the Evaluation tab: (name relative to the repository, folder)."""
    found = sorted(EVAL_DIRS[0].glob("*/results.json")) + sorted(EVAL_DIRS[1].glob("*/results.json"))
    return [(str(p.parent.relative_to(REPO)), str(p.parent)) for p in found]


# ---- handlers (module level; the first argument is the Services, bound by ``handler``) -------------------------

def summarize(s: Services, text: str, history: list[dict], current, agents: str = "", swap: bool = False):  # noqa: ANN001, ANN201
    """Chat: stream the summary of the paste into the chat; the paste stays in the box until it is complete."""
    before = list(history or [])
    if not (text or "").strip():
        raise gr.Error("Paste a conversation first (one turn per line, e.g. 'Customer: ...' / 'Agent: ...').")
    history = [*before, {"role": "user", "content": text}, {"role": "assistant", "content": "…"}]
    try:
        conv = read_paste(text, agents, swap)
        summary = ""
        for summary in s.summaries.stream_summary(conv):
            history[-1]["content"] = summary
            yield history, text, current
    except Exception:
        yield before, text, current  # no half-made summary left in the chat; the paste is kept
        raise
    if s.summaries.config.support_check:
        history[-1]["content"] = summary + "\n\n*Checking each sentence against the conversation…*"
        yield history, "", conv
        try:
            history[-1]["content"] = with_support(summary, s.audits.support(conv, summary))
        except Exception as exc:  # noqa: BLE001 - the summary stands whatever the check hit; say why it is unchecked
            history[-1]["content"] = f"{summary}\n\n*Support check unavailable: {user_error(exc).message}*"
    yield history, "", conv  # this conversation (with its roles) is the one follow-up questions are about


def with_support(summary: str, report) -> str:  # noqa: ANN001 - assistant.support.SupportReport
    """The chat's summary: doubted sentences marked with their support score, and a line saying what was checked."""
    if report.skipped:
        return f"{summary}\n\n*Support check skipped: {report.skipped}.*"
    if not report.doubted:
        return (f"{summary}\n\n*Support check: {len(report.checked)} of {len(report.sentences)} sentences name the "
                f"customer or the agent and match what that party wrote; none doubted ({report.model}).*")
    return (f"{marked(summary, report.sentences)}\n\n*Support check [?]: {len(report.doubted)} of {len(report.sentences)} sentences "
            f"not clearly supported by the conversation (support score below {report.threshold:.2f}, "
            f"checked by {report.model}). Read them against the conversation.*")


def ask(s: Services, question: str, history: list[dict], current):  # noqa: ANN001, ANN201
    """Chat: stream the answer to a follow-up question about the last summarized conversation."""
    if not current:
        raise gr.Error("Summarize a conversation first; then ask about it.")
    before = list(history or [])
    history = [*before, {"role": "user", "content": question}, {"role": "assistant", "content": "…"}]
    try:
        for partial in s.audits.answer(current, question or ""):
            history[-1]["content"] = partial
            yield history, question
    except Exception:
        yield before, question
        raise
    yield history, ""


def audit(s: Services, org: str, text: str, upload: str | None, agents: str = "", swap: bool = False,  # noqa: ANN201
          judge: str | None = None, progress=gr.Progress()):  # noqa: ANN001, B008
    """Audit tab: summary, compliance score, findings table and trail; ``judge``: who answers the checks
    (``audit_judge``: model or trained; None: the configured one)."""
    text = read_upload(upload, text)
    if not (org or "").strip():
        raise gr.Error("Pick an organisation (build its knowledge base in the Knowledge base tab).")
    if not text.strip():
        raise gr.Error("Paste or upload a conversation first.")
    conv = read_paste(text, agents, swap)
    progress(0, desc="summarizing")
    summary, report = s.audits.review(conv, org.strip(), progress=lambda done, total: progress(
        (done, total), desc="judging guidelines", unit="guideline"), judge=judge or None)
    score = "n/a" if report.compliance_score is None else f"{report.compliance_score:.0%}"
    counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in report.counts.items() if v)
    header = (f"**Summary:** {summary}\n\n**Compliance: {score}** ({counts}); {len(report.findings)} rules judged, "
              f"{report.seconds:.0f} s, judged by `{report.model}`.")
    if report.not_retrieved:
        header += (f" Not judged (their situation looked least likely to come up; raise audit_k to judge more): "
                   f"{', '.join(report.not_retrieved)}.")
    return header, findings_rows(report), report.to_dict()


def batch(s: Services, upload: str | None, do_summary: bool, do_audit: bool, org: str, agents: str = "",  # noqa: ANN201
          progress=gr.Progress()):  # noqa: ANN001, B008
    """Batch tab: every row of the upload, resumably; a status line, the table and the download files."""
    if not upload:
        raise gr.Error("Upload a CSV (column 'conversation', optional 'id') or a JSONL file first.")
    if not (do_summary or do_audit):
        raise gr.Error("Choose summary, audit or both.")
    if do_audit and not (org or "").strip():
        raise gr.Error("Pick an organisation for the audit.")
    with open(upload, "rb") as f:
        data = f.read()
    items = read_batch(data, upload, agents=agent_names(agents or ""))
    options = {"summary": do_summary, "audit": do_audit, "org": org if do_audit else None,
               "config": repr(s.summaries.config)}
    folder = work_dir(data, options)
    config = s.summaries.config
    if config.backend == "openai" and len(config.endpoints) > 1:  # a served fleet: rows go to whichever is free
        workers = endpoint_workers(config, summarize=do_summary,
                                   kb=s.audits.knowledge_base(org.strip()) if do_audit else None)
    else:  # the app's own models, shared with the other tabs
        workers = [Worker(summarize=(lambda conv: last(s.summaries.stream_summary(conv))) if do_summary else None,
                          audit=(lambda conv: s.audits.audit(conv, org.strip())) if do_audit else None)]
    run = run_batch_on(items, folder, workers,
                       progress=lambda done, total: progress((done, total), desc="conversations", unit="row"))
    results = list(run.results)
    csv_path, json_path = export(results, folder)
    failed = [r for r in results if r.error]
    speed = f" {run.rows_per_s:.2f} rows/s on {run.endpoints} endpoint{'s' * (run.endpoints > 1)}." if run.processed else ""
    status = f"{len(results) - len(failed)} of {len(results)} rows done.{speed}" + (
        " Problems: " + "; ".join(r.error for r in failed[:5]) + (" ..." if len(failed) > 5 else "") if failed else "")
    table = [[r.row, r.id, r.summary, "" if r.compliance_score is None else f"{r.compliance_score:.0%}", r.violated,
              r.error] for r in results]
    return status, table, [str(csv_path), str(json_path)]


def show_eval(s: Services, run: str | None):  # noqa: ANN201
    """Evaluation tab: the headline table with intervals, paired tests, plots and outputs side by side."""
    if not run:
        return "No evaluation results yet: start a quick run below, or `python -m eval.compare`.", [], None, None
    try:
        results = load_results(run)
    except (OSError, ValueError, KeyError) as exc:
        raise gr.Error(f"Cannot read {run}: {exc}", print_exception=False) from exc
    header, rows = headline_rows(results, "first")
    paired = paired_rows(results, "first")
    text = (f"**{results['data']['n_dialogs']} TweetSumm {results['data']['split']} dialogs**, first reference, "
            f"mean [95% CI]:\n\n{markdown_table(header, rows)}\n\n{bertscore_note(results)}\n\n"
            + (markdown_table(*paired) if paired[1] else ""))
    plots = Path(run) / "plots"
    _, examples = side_by_side(results, n=5)
    return (text, examples, str(plots / "rouge.png") if (plots / "rouge.png").is_file() else None,
            str(plots / "bertscore.png") if (plots / "bertscore.png").is_file() else None)


def quick_eval(s: Services, limit: float, progress=gr.Progress(track_tqdm=True)):  # noqa: ANN001, ANN201, B008
    """Evaluation tab: base vs fine-tuned on a few test dialogs, then show it."""
    from eval.compare import run as compare_run
    from eval.generate import DEFAULT_SYSTEMS, parse_system

    out = EVAL_DIRS[1] / f"quick-{int(limit)}"
    compare_run([parse_system(x) for x in DEFAULT_SYSTEMS], out, limit=int(limit), samples=500, quiet=False)
    return gr.update(choices=eval_runs(), value=str(out)), *show_eval(s, str(out))


def kb_documents(s: Services, org: str) -> tuple[str, list[list]]:
    """Knowledge base tab: the organisation's documents, or how to start one for a new name (never an error)."""
    org = (org or "").strip()
    if not org:
        return "", []
    try:
        store = s.audits.open_store(org)  # checks the name
        if org not in s.audits.organisations():
            return (f"**{org}** has no knowledge base yet: upload its guideline files (.md, .txt, .pdf) and press "
                    "**Add / update documents** to create it."), []
        docs = store.documents()
    except SupportLensError as exc:
        return f"⚠️ {exc}", []
    return f"**{org}**: {len(docs)} documents.", [[d.source, d.kind, d.chunk_count, " ".join(d.rule_ids)] for d in docs]


def kb_build(s: Services, org: str, files: list[str] | None, progress=gr.Progress()):  # noqa: ANN001, ANN201, B008
    """Knowledge base tab: add or update documents (creating the organisation's store if new), then compile the
    check plan of each new or changed rule."""
    if not (org or "").strip() or not files:
        raise gr.Error("Give an organisation name and at least one guideline file (.md, .txt, .pdf).")
    org = org.strip()
    report = s.audits.open_store(org).build(
        files, progress=lambda done, total: progress((done, total), desc="embedding", unit="chunk"))
    compiled, unchanged = s.audits.compile(org, progress=lambda done, total: progress(
        (done, total), desc="compiling rules into checks", unit="rule"))
    status = f"{report.summary()}; check plans: {compiled} compiled, {unchanged} unchanged."
    return (status, kb_documents(s, org)[1], gr.update(choices=s.audits.organisations(), value=org),
            *kb_plans(s, org))


def kb_plans(s: Services, org: str):  # noqa: ANN201
    """Knowledge base tab: each rule's check plan in words, and the rule picker of the editor."""
    org = (org or "").strip()
    if not org or org not in s.audits.organisations():
        return [], gr.update(choices=[], value=None)
    rows = s.audits.plans(org)
    table = [[r["rule_id"], r["heading"], r["origin"], "⚠️ review" if r["needs_review"] else "", r["plan"]] for r in rows]
    return table, gr.update(choices=[r["rule_id"] for r in rows], value=None)


def kb_plan_spec(s: Services, org: str, rule_id: str | None) -> str:
    """Knowledge base tab: the picked rule's plan as the JSON an edit starts from."""
    if not rule_id:
        return ""
    row = next((r for r in s.audits.plans(org.strip()) if r["rule_id"] == rule_id), None)
    return json.dumps(row["spec"], indent=1) if row and row["spec"] else ""


def kb_save_plan(s: Services, org: str, rule_id: str | None, spec_text: str):  # noqa: ANN201
    """Knowledge base tab: store the manager's correction of a rule's plan (kept across rebuilds)."""
    if not rule_id:
        raise gr.Error("Pick the rule to correct first.")
    try:
        spec = json.loads(spec_text)
    except ValueError as exc:
        raise gr.Error(f"The plan is not valid JSON ({exc}).") from exc
    s.audits.set_override(org.strip(), rule_id, spec)
    return f"{rule_id}: your correction is stored; audits use it, and it survives rebuilds.", kb_plans(s, org)[0]


def kb_reset_plan(s: Services, org: str, rule_id: str | None):  # noqa: ANN201
    """Knowledge base tab: drop the manager's correction of a rule's plan."""
    if not rule_id:
        raise gr.Error("Pick the rule first.")
    s.audits.set_override(org.strip(), rule_id, None)
    return f"{rule_id}: back to the compiled plan.", kb_plans(s, org)[0]


def kb_delete(s: Services, org: str, source: str):  # noqa: ANN201
    """Knowledge base tab: delete one document by file name."""
    report = s.audits.open_store(org.strip()).delete(source.strip())
    return report.summary(), kb_documents(s, org)[1]


def kb_search(s: Services, org: str, query: str) -> list[list]:
    """Knowledge base tab: try a search."""
    hits = s.audits.open_store(org.strip()).search(query, k=5)
    return [[h.chunk.rule_id or "", h.chunk.heading, f"{h.score:.3f}", h.chunk.text[:300]] for h in hits]


# ---- tabs (wiring only) ----------------------------------------------------------------------------------------

def who_is_who(box: gr.Textbox, prefix: str) -> tuple[gr.Textbox, gr.Checkbox]:
    """Under a conversation box: agent names, a swap, and what was read (format, roles, turns), kept up to date."""
    with gr.Row():
        agents = gr.Textbox(value="", label="Agent names (optional, comma-separated): decides who is who in a transcript "
                                  "with names", scale=3, elem_id=f"{prefix}-agents")
        swap = gr.Checkbox(label="Swap customer and agent", value=False, scale=1, elem_id=f"{prefix}-swap")
    with gr.Accordion("What was read: format, who is who, each message", open=True):
        roles = gr.Markdown(elem_id=f"{prefix}-roles")
        turns = gr.Dataframe(headers=TURN_COLUMNS, wrap=True, interactive=False, max_height=260,
                             elem_id=f"{prefix}-turns")
    gr.on([box.change, agents.change, swap.change], paste_preview, [box, agents, swap], [roles, turns],
          show_progress="hidden", trigger_mode="always_last", api_name="read")
    return agents, swap


def chat_tab(s: Services, examples: list[Example]) -> None:
    """Paste, see what was read, summarize (streamed), ask follow-up questions."""
    chat = gr.Chatbot(label="Summaries", height=420, buttons=["copy"], elem_id="chat")
    box = gr.Textbox(label="Conversation", lines=8, max_lines=20, placeholder=PLACEHOLDER, elem_id="chat-box")
    agents, swap = who_is_who(box, "chat")
    with gr.Row():
        send = gr.Button("Summarize", variant="primary", elem_id="chat-send")
        clear = gr.Button("Clear", elem_id="chat-clear")
    with gr.Row():
        question = gr.Textbox(label="Ask about this conversation (e.g. did the agent offer a refund?)", scale=4,
                              elem_id="chat-question")
        ask_btn = gr.Button("Ask", scale=1, elem_id="chat-ask")
    current = gr.State(None)  # the last summarized Conversation: what follow-up questions are about
    gr.Examples(examples=[[e.text] for e in examples], inputs=[box], example_labels=[e.title for e in examples],
                label="Example conversations")
    summarizing = gr.on([send.click, box.submit], handler(summarize, s), [box, chat, current, agents, swap],
                        [chat, box, current], api_name="summarize")
    asking = gr.on([ask_btn.click, question.submit], handler(ask, s), [question, chat, current], [chat, question],
                   api_name="ask")
    # Clear stops a summary or an answer still running (the support check runs after the summary shows): its last
    # update would otherwise bring the cleared chat back.
    clear.click(lambda: ([], "", None), None, [chat, box, current], cancels=[summarizing, asking])


def audit_tab(s: Services, orgs: list[str]) -> gr.Dropdown:
    """Pick an organisation, paste or upload, see what was read, audit. Returns the organisation picker."""
    with gr.Row():
        org = gr.Dropdown(choices=orgs, value=orgs[0] if orgs else None, allow_custom_value=True,
                          label="Organisation", scale=1, elem_id="audit-org")
        upload = gr.File(label="...or upload a conversation (.txt, .json)", file_types=[".txt", ".json"],
                         type="filepath", scale=2, elem_id="audit-upload")
    box = gr.Textbox(label="Conversation", lines=8, max_lines=20, placeholder=PLACEHOLDER, elem_id="audit-box")
    agents, swap = who_is_who(box, "audit")
    judge = gr.Radio(judge_choices(s), value=s.audits.config.audit_judge, label="Judge", elem_id="audit-judge",
                     info="The language model is the more accurate; the trained judge about 20x faster (README: "
                          "The audit judge).")
    run = gr.Button("Audit", variant="primary", elem_id="audit-run")
    header = gr.Markdown(elem_id="audit-header")
    findings = gr.Dataframe(headers=FINDING_COLUMNS, label="Findings", wrap=True, interactive=False, elem_id="findings")
    with gr.Accordion("Audit trail: retrieved passages and raw answers", open=False):
        trail = gr.JSON()
    run.click(handler(audit, s), [org, box, upload, agents, swap, judge], [header, findings, trail], api_name="audit")
    return org


def judge_choices(s: Services) -> list[tuple[str, str]]:
    """The audit tab's judges: the language model, the shipped trained judge, and a configured judge folder."""
    choices = [("Language model (more accurate, about 40-60 s)", "model"),
               ("Trained judge (fast, about 2-3 s, less accurate)", "trained")]
    configured = s.audits.config.audit_judge
    if configured not in ("model", "trained"):
        choices.append((f"Configured judge ({Path(configured).name})", configured))
    return choices


def knowledge_base_tab(s: Services, orgs: list[str], audit_org: gr.Dropdown) -> None:
    """Pick or type an organisation, add/update guideline files, list, delete, try a search."""
    org = gr.Dropdown(choices=orgs, value=orgs[0] if orgs else None, allow_custom_value=True,
                      label="Organisation (pick, or type a new name)", elem_id="kb-org")
    files = gr.File(label="Guideline files (.md, .txt, .pdf)", file_count="multiple",
                    file_types=[".md", ".markdown", ".txt", ".pdf"], type="filepath", elem_id="kb-files")
    build = gr.Button("Add / update documents", variant="primary", elem_id="kb-build")
    status = gr.Markdown(elem_id="kb-status")
    docs = gr.Dataframe(headers=["document", "kind", "chunks", "rule ids"], label="Documents", interactive=False,
                        elem_id="kb-docs")
    with gr.Row():
        del_name = gr.Textbox(label="Document to delete (file name)", scale=3)
        delete = gr.Button("Delete", scale=1)
    with gr.Row():
        query = gr.Textbox(label="Try a search", scale=3)
        go = gr.Button("Search", scale=1)
    hits = gr.Dataframe(headers=["rule", "heading", "score", "text"], label="Results", wrap=True, interactive=False)
    gr.Markdown("### What the audit asks of each rule\nEach rule is compiled once into checks: when it applies, which "
                "replies it is about and the yes/no question asked of each (questions about form, such as a signature "
                "or a link, are decided exactly). Correct a plan that misreads its rule; corrections survive rebuilds.")
    plans = gr.Dataframe(headers=PLAN_COLUMNS, label="Check plans", wrap=True, interactive=False, elem_id="kb-plans")
    with gr.Row():
        rule = gr.Dropdown(choices=[], label="Rule to correct", scale=1, elem_id="kb-plan-rule")
        spec = gr.Code(language="json", label="Plan (applies: always|when; trigger; trigger_in: customer|agent|anyone; "
                       "scope: first_reply|last_reply|every_reply|any_reply|no_reply|conversation; question)",
                       scale=3, elem_id="kb-plan-spec")
    with gr.Row():
        save = gr.Button("Save correction", elem_id="kb-plan-save")
        reset = gr.Button("Back to the compiled plan", elem_id="kb-plan-reset")
    build.click(handler(kb_build, s), [org, files], [status, docs, audit_org, plans, rule], api_name="kb_build")
    org.change(handler(kb_documents, s), [org], [status, docs], api_name="kb_documents")
    org.change(handler(kb_plans, s), [org], [plans, rule], api_name="kb_plans")
    rule.change(handler(kb_plan_spec, s), [org, rule], [spec])
    save.click(handler(kb_save_plan, s), [org, rule, spec], [status, plans], api_name="kb_save_plan")
    reset.click(handler(kb_reset_plan, s), [org, rule], [status, plans])
    delete.click(handler(kb_delete, s), [org, del_name], [status, docs])
    gr.on([go.click, query.submit], handler(kb_search, s), [org, query], [hits], api_name="kb_search")


def batch_tab(s: Services, orgs: list[str]) -> None:
    """Upload a CSV or JSONL, choose summary and/or audit, run, download the results."""
    gr.Markdown("Upload a **CSV**, one row per conversation (a `conversation` column in any pasteable format, "
                "optional `id`) or one row per message (conversation id, speaker or role, text, time), or a "
                "**JSONL** file of `{\"id\", \"conversation\"}` or `{\"id\", \"turns\"}` objects. "
                "Bad rows are reported by row number; a re-run continues where a crash stopped.")
    upload = gr.File(label="Conversations (.csv, .jsonl)", file_types=[".csv", ".jsonl", ".json"], type="filepath",
                     elem_id="batch-file")
    with gr.Row():
        do_summary = gr.Checkbox(value=True, label="Summarize")
        do_audit = gr.Checkbox(value=False, label="Audit")
        org = gr.Dropdown(choices=orgs, value=orgs[0] if orgs else None, allow_custom_value=True,
                          label="Organisation (for the audit)")
    agents = gr.Textbox(value="", label="Agent names (optional, comma-separated): decides who is who in transcripts "
                                        "with names", elem_id="batch-agents")
    run = gr.Button("Run", variant="primary", elem_id="batch-run")
    status = gr.Markdown(elem_id="batch-status")
    table = gr.Dataframe(headers=BATCH_COLUMNS, label="Results", wrap=True, interactive=False, elem_id="batch-table")
    files = gr.File(label="Download results (CSV, JSON)", file_count="multiple", interactive=False, elem_id="batch-files")
    run.click(handler(batch, s), [upload, do_summary, do_audit, org, agents], [status, table, files], api_name="batch",
              concurrency_limit=1)


def evaluation_tab(s: Services, demo: gr.Blocks) -> None:
    """The committed and local base-vs-fine-tuned results, and a quick run."""
    runs = eval_runs()
    pick = gr.Dropdown(choices=runs, value=runs[0][1] if runs else None, label="Results folder", elem_id="eval-pick")
    text = gr.Markdown()
    with gr.Row():
        rouge = gr.Image(label="ROUGE", type="filepath")
        bert = gr.Image(label="BERTScore F1 of our systems (encoder in the title)", type="filepath")
    examples = gr.Dataframe(label="Side by side (first dialogs)", wrap=True, interactive=False)
    with gr.Row():
        limit = gr.Slider(2, 30, value=5, step=1, label="Quick run: number of test dialogs")
        go = gr.Button("Run base vs fine-tuned")
    shown = [text, examples, rouge, bert]
    pick.change(handler(show_eval, s), [pick], shown)
    go.click(handler(quick_eval, s), [limit], [pick, *shown], api_name="quick_eval", concurrency_limit=1)
    demo.load(handler(show_eval, s), [pick], shown)


def build_app(service: SummaryService, examples: list[Example], status: str = "",
              audits: AuditService | None = None) -> gr.Blocks:
    """The Gradio Blocks app around ``service`` (and ``audits`` for the Audit and Knowledge base tabs)."""
    s = Services(service, audits or AuditService(service.config, service))
    orgs = s.audits.organisations()
    with gr.Blocks(title="SupportLens") as demo:
        gr.Markdown("# SupportLens\nSummarize customer-support conversations and audit them against your guidelines.")
        model_info = gr.Markdown(status or f"Model: **{service.model_label}**")
        with gr.Tab("Chat"):
            chat_tab(s, examples)
        with gr.Tab("Audit"):
            audit_org = audit_tab(s, orgs)
        with gr.Tab("Knowledge base"):
            knowledge_base_tab(s, orgs, audit_org)
        with gr.Tab("Batch"):
            batch_tab(s, orgs)
        with gr.Tab("Evaluation"):
            evaluation_tab(s, demo)
        demo.load(lambda: status or f"Model: **{service.model_label}**", None, model_info)
    return demo


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, load the model once, and serve the app."""
    parser = argparse.ArgumentParser(description="SupportLens web app")
    parser.add_argument("--host", default=os.environ.get("SUPPORTLENS_HOST", "127.0.0.1"), help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SUPPORTLENS_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="create a public share link (needs a login)")
    parser.add_argument("--auth-file", help="file of user:password lines (else $SUPPORTLENS_AUTH)")
    parser.add_argument("--config", help="assistant YAML config (model, backend...)")
    parser.add_argument("--model", help="override the model (embedded name, path or hub id)")
    parser.add_argument("--backend", help="override the backend: llamacpp, transformers or openai")
    parser.add_argument("--adapter", help="auto (default: the shipped TweetSumm adapter), none (base model), a run folder, PEFT folder or LoRA .gguf")
    args = parser.parse_args(argv)
    try:
        credentials = load_credentials(args.auth_file)
        check_exposure(args.host, args.share, credentials)
        config = load_config(args.config, model=args.model, backend=args.backend, adapter=args.adapter)
    except SupportLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    service = SummaryService(config)
    status = ""
    try:
        print(f"Loading {config.model} ({config.backend})...", file=sys.stderr, flush=True)
        service.load()
    except SupportLensError as exc:  # serve anyway and show how to fix it; each request retries the load
        status = f"⚠️ The model could not be loaded: {exc}"
        print(f"warning: {exc}", file=sys.stderr)
    demo = build_app(service, example_conversations(), status, AuditService(config, service))
    demo.queue(default_concurrency_limit=4, max_size=64)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share,
                auth=credentials or None, auth_message="SupportLens: please log in.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
