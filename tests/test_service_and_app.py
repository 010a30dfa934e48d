"""The app's service layer and handlers with a fake generator (no server), plus access control."""

import pytest

from assistant.access import check_exposure, load_credentials, parse_credentials
from assistant.config import AssistantConfig
from assistant.errors import ConfigError, GenerationFailed, InvalidConversation
from supportlens.service import SummaryService, example_conversations
from tests.conftest import FakeGenerator, PlaybookJudge, WordsEmbedder

# follows every rule of the sample playbook: the form rules are decided by exact detectors (signed, thanks, an offer
# of further help), the rest by the scripted judge
COMPLIANT = "Customer: my parcel is late\nAgent: sorry, and thanks for telling us! DM us; anything else, just let us know. ^JK"


@pytest.fixture(autouse=True)
def words_embedder(monkeypatch):
    """The support check runs by default: a word-hashing embedder stands in for MiniLM (a test may patch another)."""
    monkeypatch.setattr("knowledge_base.embedder.make_embedder", WordsEmbedder)


def service(gen):
    return SummaryService(AssistantConfig(adapter="none"), factory=lambda config: gen)


def test_stream_grows_and_ends_with_clean_summary():
    gen = FakeGenerator(reply=" wanted a refund.\nThe agent agreed.")
    values = list(service(gen).stream_summary("Customer: refund?\nAgent: yes"))
    assert values[0] == "The customer wanted"  # the response prefix alone is never shown
    assert all(len(a) <= len(b) for a, b in zip(values, values[1:-1]))
    assert values[-1] == "The customer wanted a refund. The agent agreed."


def test_model_loaded_once():
    calls = []
    svc = SummaryService(AssistantConfig(), factory=lambda config: calls.append(1) or FakeGenerator())
    for _ in range(3):
        list(svc.stream_summary("Customer: a\nAgent: b"))
    assert calls == [1]


def test_bad_input_raises_before_generation():
    gen = FakeGenerator()
    with pytest.raises(InvalidConversation):
        list(service(gen).stream_summary("Agent: hello?"))
    assert gen.prompts == []


def test_empty_model_output_is_an_error():
    with pytest.raises(GenerationFailed):
        list(service(FakeGenerator(reply="")).stream_summary("Customer: a\nAgent: b"))


def test_examples_include_ours_and_tweetsumm(tweetsumm_dir):
    examples = example_conversations(tweetsumm_dir, n_tweetsumm=2)
    titles = [e.title for e in examples]
    assert "late delivery" in titles and sum(t.startswith("TweetSumm") for t in titles) == 2
    from assistant.conversation import parse_conversation

    for e in examples:
        parse_conversation(e.text)


def test_app_handler_streams_into_chat_and_maps_errors():
    import gradio as gr

    from app import build_app

    svc = service(FakeGenerator())
    demo = build_app(svc, example_conversations("/nonexistent"))
    fn = next(d.fn for d in demo.fns.values() if d.api_name == "summarize")
    outputs = list(fn("Customer: a\nAgent: b", [], ""))
    history, box, current = outputs[-1]
    assert box == "" and history[0]["role"] == "user" and history[1]["content"].startswith("The customer")
    assert outputs[0][1] == "Customer: a\nAgent: b" and outputs[0][2] == ""  # paste kept while streaming
    assert current.to_text() == "Customer: a\nAgent: b"  # follow-up questions are about this conversation now
    with pytest.raises(gr.Error, match="one-sided"):
        list(fn("Customer: only me", [], ""))


def test_the_app_shows_who_is_who_before_summarizing_and_the_manager_can_correct_it():
    from app import build_app, paste_preview

    paste = ("[10:32 AM] John Smith: my router drops every hour\n"
             "[10:33 AM] Sarah (Support): sorry! which model is it?\n"
             "[10:35 AM] John Smith: the XR-500\n")
    line, rows = paste_preview(paste)
    assert "a chat transcript" in line and "3 messages" in line
    assert 'John Smith: customer (opens the conversation); Sarah: agent (labelled "(Support)")' in line
    assert rows[1] == [2, "agent", "Sarah", "10:33 AM", "sorry! which model is it?"]
    assert "John Smith: agent" in paste_preview(paste, swap=True)[0]
    assert paste_preview("Agent: hello?")[1] == [[1, "agent", "", "", "hello?"]]  # one-sided: shown, not refused
    assert "⚠️" in paste_preview('{"comments": 3}')[0] and paste_preview("  ") == ("", [])
    gen = FakeGenerator()
    demo = build_app(service(gen), [])
    fns = {d.api_name: d.fn for d in demo.fns.values() if d.api_name}
    history, _, current = list(fns["summarize"](paste, [], None, "", True))[-1]
    assert "Agent: my router drops every hour" in gen.prompts[-1]  # the swap reached the model
    assert [t.speaker for t in current.turns] == ["agent", "customer", "agent"]
    list(fns["summarize"](paste.replace(" (Support)", ""), [], None, "john smith", False))
    assert "Agent: my router drops every hour" in gen.prompts[-1]  # so did the agent's name


def test_app_failure_leaves_no_half_summary_and_keeps_the_paste():
    import gradio as gr

    from app import build_app

    demo = build_app(service(FakeGenerator(reply="")), [])
    fn = next(d.fn for d in demo.fns.values() if d.api_name == "summarize")
    earlier = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    gen = fn("Customer: a\nAgent: b", earlier, "")
    assert next(gen) == (earlier, "Customer: a\nAgent: b", "")
    with pytest.raises(gr.Error, match="empty summary"):
        next(gen)
    with pytest.raises(gr.Error, match="Paste a conversation"):
        list(fn("   ", [], ""))


class BrokenModel(FakeGenerator):
    """A backend whose native call fails (what llama.cpp raises when a decode goes wrong)."""

    def stream(self, prompt, params):  # noqa: ANN001, ANN201
        yield " started"
        raise RuntimeError("llama_decode returned -3")

    def choice_probabilities(self, prompt, choices):  # noqa: ANN001, ANN201
        raise RuntimeError("llama_decode returned -3")


def test_a_failing_model_gives_a_readable_error_and_the_app_keeps_serving(tmp_path):
    """An unexpected exception from a model call is one request's failure: the browser reads what happened,
    the chat keeps its earlier state, and the next request (another tab, another model) is served."""
    import gradio as gr

    from app import build_app
    from supportlens.service import AuditService
    from tests.knowledge_base.conftest import PLAYBOOK, FakeEmbedder

    models = {"summary": BrokenModel()}
    svc = SummaryService(AssistantConfig(adapter="none"), factory=lambda config: models["summary"])
    audits = AuditService(AssistantConfig(audit_judge="model", adapter="none"), svc, kb_root=str(tmp_path),
                          factory=lambda config: BrokenModel(), embedder_factory=FakeEmbedder)
    demo = build_app(svc, [], audits=audits)
    fns = {d.api_name: d.fn for d in demo.fns.values() if d.api_name}
    progress = lambda *a, **k: None  # noqa: E731 - stands in for gr.Progress
    earlier = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    outputs = []
    with pytest.raises(gr.Error, match=r"failed inside the model.*RuntimeError: llama_decode returned -3.*try again"):
        for out in fns["summarize"]("Customer: a\nAgent: b", earlier, ""):
            outputs.append(out)
    assert outputs[-1] == (earlier, "Customer: a\nAgent: b", "")  # no half summary; the paste is kept
    fns["kb_build"]("acme", [str(PLAYBOOK)], progress=progress)
    with pytest.raises(gr.Error, match="RuntimeError"):
        fns["audit"]("acme", "Customer: my parcel is late\nAgent: sorry", None, progress=progress)
    with pytest.raises(gr.Error, match="RuntimeError"):
        list(fns["ask"]("refund?", [], "Customer: a\nAgent: b"))
    assert fns["kb_search"]("acme", "password")  # the rest of the app still answers
    models["summary"].__class__ = FakeGenerator  # the model recovers: the same server summarizes again
    history, box, _ = list(fns["summarize"]("Customer: a\nAgent: b", [], ""))[-1]
    assert history[-1]["content"].startswith("The customer") and box == ""


def test_follow_up_question_is_answered_from_the_conversation():
    import gradio as gr

    from app import build_app
    from supportlens.service import AuditService

    svc = service(FakeGenerator())
    judge = FakeGenerator(reply="Yes: the agent wrote 'we will refund you'.")
    demo = build_app(svc, [], audits=AuditService(AssistantConfig(audit_judge="model", adapter="none"), svc, factory=lambda c: judge,
                                                  embedder_factory=lambda: None))
    ask = next(d.fn for d in demo.fns.values() if d.api_name == "ask")
    conv = "Customer: my parcel is late\nAgent: sorry, we will refund you"
    history, box = list(ask("did the agent offer a refund?", [], conv))[-1]
    assert history[-1]["content"].startswith("Yes") and box == ""
    assert "<conversation>" in judge.prompts[0] and "Question: did the agent offer a refund?" in judge.prompts[0]
    with pytest.raises(gr.Error, match="Summarize a conversation first"):
        list(ask("anything?", [], ""))
    with pytest.raises(gr.Error, match="Type a question"):
        list(ask("  ", [], conv))


def test_chat_marks_the_sentences_the_support_check_doubts():
    from app import build_app
    from supportlens.service import AuditService
    from tests.conftest import WordsEmbedder

    svc = SummaryService(AssistantConfig(adapter="none", support_check=True),
                         factory=lambda config: FakeGenerator(reply=" said the parcel is late. The agent said the parcel is late."))
    demo = build_app(svc, [], audits=AuditService(AssistantConfig(audit_judge="model", adapter="none"), svc,
                                                  factory=lambda c: FakeGenerator(), embedder_factory=WordsEmbedder))
    summarize = next(d.fn for d in demo.fns.values() if d.api_name == "summarize")
    shown = [history[-1]["content"] for history, _, _ in summarize("Customer: my parcel is late\nAgent: sorry about that", [], "")]
    assert "Checking each sentence" in shown[-2]  # the summary shows while it is checked
    final = shown[-1]
    assert final.startswith("The customer said the parcel is late. The agent said the parcel is late. [? support 0.")
    assert "1 of 2 sentences not clearly supported" in final


def test_credentials_and_exposure(tmp_path, monkeypatch):
    assert parse_credentials("alice:pw1, bob:pw:2\n# comment") == [("alice", "pw1"), ("bob", "pw:2")]
    with pytest.raises(ConfigError):
        parse_credentials("alice")
    monkeypatch.setenv("SUPPORTLENS_AUTH", "carol:x")
    assert load_credentials() == [("carol", "x")]
    f = tmp_path / "auth"
    f.write_text("dave:y\n")
    assert load_credentials(str(f)) == [("dave", "y")]
    check_exposure("127.0.0.1", False, [])
    with pytest.raises(ConfigError, match="without a login"):
        check_exposure("0.0.0.0", False, [])
    with pytest.raises(ConfigError, match="share link"):
        check_exposure("127.0.0.1", True, [])
    check_exposure("0.0.0.0", False, [("a", "b")])


def test_app_refuses_exposed_start_without_login(monkeypatch, capsys):
    from app import main

    monkeypatch.delenv("SUPPORTLENS_AUTH", raising=False)
    assert main(["--host", "0.0.0.0"]) == 2
    assert "without a login" in capsys.readouterr().err


def test_review_gives_the_summary_then_findings(tmp_path):
    from supportlens.service import AuditService
    from knowledge_base.store import KnowledgeBase
    from tests.knowledge_base.conftest import PLAYBOOK, FakeEmbedder

    KnowledgeBase("acme", FakeEmbedder(), root=tmp_path).build([PLAYBOOK])
    judge = PlaybookJudge()
    audits = AuditService(AssistantConfig(audit_judge="model", adapter="none"), service(FakeGenerator()), kb_root=str(tmp_path),
                          factory=lambda config: judge, embedder_factory=FakeEmbedder)
    steps = []
    summary, report = audits.review(COMPLIANT, "acme",
                                    progress=lambda done, total: steps.append((done, total)))
    assert summary.startswith("The customer") and report.findings and report.compliance_score == 1.0
    assert steps[-1][0] == steps[-1][1] == len(report.findings)
    from knowledge_base.errors import IndexNotBuilt

    with pytest.raises(IndexNotBuilt):
        audits.audit("Customer: a\nAgent: b", "other-org")


def test_audit_and_knowledge_base_tabs(tmp_path):
    import gradio as gr

    from app import build_app
    from supportlens.service import AuditService
    from tests.knowledge_base.conftest import PLAYBOOK, FakeEmbedder

    svc = service(FakeGenerator())
    judge = PlaybookJudge()
    audits = AuditService(AssistantConfig(audit_judge="model", adapter="none"), svc, kb_root=str(tmp_path),
                          factory=lambda config: judge, embedder_factory=FakeEmbedder)
    demo = build_app(svc, [], audits=audits)
    fns = {d.api_name: d.fn for d in demo.fns.values() if d.api_name}
    progress = lambda *a, **k: None  # noqa: E731 - stands in for gr.Progress
    status, docs, org_update, plans, rule_picker = fns["kb_build"]("acme", [str(PLAYBOOK)], progress=progress)
    assert "1 added" in status and docs[0][0] == PLAYBOOK.name and docs[0][2] == 11 and "G10" in docs[0][3]
    assert audits.organisations() == ["acme"] and org_update["value"] == "acme"
    assert "check plans: 10 compiled" in status and len(plans) == 10 and rule_picker["choices"][0] == "G1"
    assert plans[3][0] == "G4" and plans[3][2] == "clauses" and "signature detector" in plans[3][4]
    hits = fns["kb_search"]("acme", "never ask for a password or card number")
    assert hits and len(hits[0]) == 4
    upload = tmp_path / "conv.txt"
    upload.write_text(COMPLIANT)
    header, rows, trail = fns["audit"]("acme", "", str(upload), progress=progress)
    assert "Compliance: 100%" in header and "The customer" in header
    assert rows and all(r[2] == "followed" for r in rows) and trail["retrieved"]
    picker = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "audit-judge")
    assert [value for _, value in picker.choices] == ["model", "trained"] and picker.value == "model"
    # the judge picked for this audit, not the configured one, answers: a missing judge folder says so
    with pytest.raises(gr.Error, match="The audit judge .*no-such-judge is missing"):
        fns["audit"]("acme", "", str(upload), "", False, str(tmp_path / "no-such-judge"), progress=progress)
    with pytest.raises(gr.Error, match="organisation"):
        fns["audit"]("", "Customer: a\nAgent: b", None, progress=progress)
    with pytest.raises(gr.Error, match="knowledge_base.build --org nobody"):
        fns["audit"]("nobody", "Customer: a\nAgent: b", None, progress=progress)
    with pytest.raises(gr.Error, match="Invalid organisation name"):
        fns["kb_build"]("../etc", [str(PLAYBOOK)], progress=progress)


def test_batch_tab_processes_rows_reports_bad_ones_and_offers_downloads(tmp_path, monkeypatch):
    from app import build_app

    monkeypatch.setenv("SUPPORTLENS_DATA", str(tmp_path / "data"))
    demo = build_app(service(FakeGenerator()), [])
    fn = next(d.fn for d in demo.fns.values() if d.api_name == "batch")
    upload = tmp_path / "convs.csv"
    upload.write_text('id,conversation\nx1,"Customer: late parcel\nAgent: sorry"\nx2,"Agent: hello?"\n')
    status, table, files = fn(str(upload), True, False, "", progress=lambda *a, **k: None)
    assert status.startswith("1 of 2 rows done") and "row 3" in status
    assert table[0][2].startswith("The customer") and table[1][5].startswith("row 3")
    assert [f.rsplit(".", 1)[1] for f in files] == ["csv", "json"]
    per_message = tmp_path / "messages.csv"  # one row per message, names instead of roles
    per_message.write_text("conversation_id,author,message\nt1,Dana,my parcel is late\nt1,Marco,sorry! DM us\n"
                           "t2,Lee,refund please\nt2,Marco,done\n")
    gen = FakeGenerator()
    fn = next(d.fn for d in build_app(service(gen), []).fns.values() if d.api_name == "batch")
    status, table, _ = fn(str(per_message), True, False, "", "Marco", progress=lambda *a, **k: None)
    assert status.startswith("2 of 2 rows done") and [r[1] for r in table] == ["t1", "t2"]
    assert "Agent: sorry! DM us" in gen.prompts[0] and "Customer: refund please" in gen.prompts[1]


def test_batch_tab_fans_rows_out_over_served_endpoints(tmp_path, monkeypatch):
    """With several served endpoints configured, the Batch tab sends rows to whichever endpoint is free."""
    import app
    from assistant.batch import Worker

    monkeypatch.setenv("SUPPORTLENS_DATA", str(tmp_path / "data"))
    config = AssistantConfig(backend="openai", model="m", openai_base_urls=("http://127.0.0.1:1/v1",
                                                                              "http://127.0.0.1:2/v1"))
    def endpoint(name):  # noqa: ANN001, ANN202
        return lambda conv: f"{name}: summary of {len(conv.turns)} turns"

    monkeypatch.setattr(app, "endpoint_workers", lambda cfg, summarize, kb: [Worker(endpoint("a")), Worker(endpoint("b"))])
    svc = SummaryService(config, factory=lambda c: FakeGenerator())
    fn = next(d.fn for d in app.build_app(svc, []).fns.values() if d.api_name == "batch")
    upload = tmp_path / "convs.csv"
    upload.write_text("id,conversation\n" + "".join(f'x{i},"Customer: late parcel {i}\nAgent: sorry"\n' for i in range(8)))
    status, table, _ = fn(str(upload), True, False, "", "", progress=lambda *a, **k: None)
    assert status.startswith("8 of 8 rows done.") and "on 2 endpoints" in status
    assert [r[1] for r in table] == [f"x{i}" for i in range(8)] and all("summary of 2 turns" in r[2] for r in table)


def test_evaluation_tab_shows_the_committed_results():
    from app import EVAL_DIRS, build_app

    demo = build_app(service(FakeGenerator()), [])
    show = next(d.fn for d in demo.fns.values() if getattr(d.fn, "__name__", "") == "show_eval")
    run = EVAL_DIRS[0] / "tweetsumm-test-qwen2.5-coder-0.5b"
    text, examples, rouge_png, bert_png = show(str(run))
    assert "110 TweetSumm test dialogs" in text and "0.4132" in text and "seed: Llama-2-7b-chat QLoRA" in text
    # our BERTScore column names its encoder; the seed's (another encoder) stands only in its own column
    assert "BERTScore F1 (all-MiniLM-L6-v2)" in text and "seed's own encoder (not stated; not comparable)" in text
    seed_rows = [line.split("|") for line in text.splitlines() if line.startswith("| seed:")]
    assert [(r[6].strip(), r[7].strip()) for r in seed_rows] == [("-", "0.7403"), ("-", "0.8334")]
    assert len(examples) == 5 and rouge_png.endswith("rouge.png") and bert_png.endswith("bertscore.png")
    assert show(None)[0].startswith("No evaluation results")


def test_evaluation_tab_names_results_folders_relative_to_the_repository():
    from app import REPO, eval_runs

    runs = eval_runs()
    assert ("eval/results/tweetsumm-test-qwen2.5-coder-0.5b",
            str(REPO / "eval" / "results" / "tweetsumm-test-qwen2.5-coder-0.5b")) in runs
    assert not any(label.startswith("/") for label, _ in runs)


def test_a_new_organisation_name_is_an_invitation_not_an_error(tmp_path):
    from app import build_app
    from supportlens.service import AuditService
    from tests.knowledge_base.conftest import PLAYBOOK, FakeEmbedder

    svc = service(FakeGenerator())
    audits = AuditService(AssistantConfig(audit_judge="model", adapter="none"), svc, kb_root=str(tmp_path),
                          factory=lambda config: FakeGenerator(), embedder_factory=FakeEmbedder)
    fns = {d.api_name: d.fn for d in build_app(svc, [], audits=audits).fns.values() if d.api_name}
    status, docs = fns["kb_documents"]("acme")  # typed before any upload
    assert "has no knowledge base yet" in status and "Add / update documents" in status and docs == []
    assert fns["kb_documents"]("../etc")[0].startswith("⚠️ Invalid organisation name")
    fns["kb_build"]("acme", [str(PLAYBOOK)], progress=lambda *a, **k: None)
    status, docs = fns["kb_documents"]("acme")
    assert status == "**acme**: 1 documents." and docs[0][0] == PLAYBOOK.name


def test_the_manager_sees_and_corrects_each_rules_check_plan(tmp_path):
    import json

    import gradio as gr

    from app import build_app
    from supportlens.service import AuditService
    from tests.knowledge_base.conftest import PLAYBOOK, FakeEmbedder

    svc = service(FakeGenerator())
    audits = AuditService(AssistantConfig(audit_judge="model", adapter="none"), svc, kb_root=str(tmp_path),
                          factory=lambda config: PlaybookJudge(), embedder_factory=FakeEmbedder)
    fns = {d.api_name: d.fn for d in build_app(svc, [], audits=audits).fns.values() if d.api_name}
    progress = lambda *a, **k: None  # noqa: E731 - stands in for gr.Progress
    fns["kb_build"]("acme", [str(PLAYBOOK)], progress=progress)
    edit = {"applies": "when", "trigger": "Does this message mention a refund?", "trigger_in": "anyone",
            "scope": "no_reply", "question": "Does this reply promise a refund?"}
    status, plans = fns["kb_save_plan"]("acme", "G6", json.dumps(edit))
    assert "survives rebuilds" in status and plans[5][2] == "override"
    assert "Does this reply promise a refund? (yes means violated)" in plans[5][4]
    fns["kb_build"]("acme", [str(PLAYBOOK)], progress=progress)  # nothing changed: the override stays
    assert fns["kb_plans"]("acme")[0][5][2] == "override"
    with pytest.raises(gr.Error, match="not valid JSON"):
        fns["kb_save_plan"]("acme", "G6", "{applies: when")
    with pytest.raises(gr.Error, match="scope must be one of"):
        fns["kb_save_plan"]("acme", "G6", json.dumps({**edit, "scope": "sometimes"}))
    header, rows, trail = fns["audit"]("acme", COMPLIANT, None,
                                       progress=progress)
    g6 = next(r for r in rows if r[0] == "G6")
    assert g6[6] and "mention a refund" in g6[6]  # the finding names the check that decided it
    audits.set_override("acme", "G6", None)
    assert fns["kb_plans"]("acme")[0][5][2] == "clauses"


def test_audit_service_loads_the_judge_adapter_never_the_summary_one(tmp_path, monkeypatch):
    from assistant import models
    from supportlens.service import AuditService

    configs = []
    audits = AuditService(AssistantConfig(audit_judge="model"), service(FakeGenerator()), kb_root=str(tmp_path),
                          factory=lambda config: configs.append(config) or PlaybookJudge())
    monkeypatch.delitem(models.SHIPPED_JUDGES, models.AUDIT_MODEL, raising=False)
    audits.generator()
    assert (configs[0].model, configs[0].adapter) == (models.AUDIT_MODEL, "none")
    run = tmp_path / "run"
    run.mkdir()
    (run / "adapter.gguf").write_bytes(b"GGUF")
    monkeypatch.setitem(models.SHIPPED_JUDGES, models.AUDIT_MODEL, run)
    audits = AuditService(AssistantConfig(audit_judge="model", audit_model=models.DEFAULT_MODEL), service(FakeGenerator()),
                          kb_root=str(tmp_path), factory=lambda config: configs.append(config) or PlaybookJudge())
    audits.generator()
    assert (configs[1].model, configs[1].adapter) == (models.DEFAULT_MODEL, "none")  # not the TweetSumm adapter
    audits = AuditService(AssistantConfig(audit_judge="model"), service(FakeGenerator()), kb_root=str(tmp_path),
                          factory=lambda config: configs.append(config) or PlaybookJudge())
    audits.generator()
    assert configs[2].adapter == str(run / "adapter.gguf")


def test_a_judge_adapter_gets_its_own_writer_for_questions_and_rules(tmp_path):
    """With a judge adapter, follow-up questions and rule compilation use compile_model without any adapter (the
    judge only answers yes or no); without one, judge and writer are one loaded model."""
    from assistant import models
    from supportlens.service import AuditService

    judge = tmp_path / "judge.gguf"
    judge.write_bytes(b"GGUF")
    configs, made = [], []

    def factory(config):
        configs.append(config)
        made.append(FakeGenerator(reply="The customer asked about a refund."))
        return made[-1]

    audits = AuditService(AssistantConfig(audit_judge="model", audit_model=models.DEFAULT_MODEL, audit_adapter=str(judge)),
                          service(FakeGenerator()), kb_root=str(tmp_path), factory=factory)
    assert audits.writer() is not audits.generator()
    assert [(c.model, c.adapter) for c in configs] == [(models.AUDIT_MODEL, "none"), (models.DEFAULT_MODEL, str(judge))]
    *_, answer = audits.answer("Customer: Where is my refund?\nAgent: Checking.", "What did the customer ask?")
    assert answer == "The customer asked about a refund." and made[0].prompts and not made[1].prompts
    configs.clear()
    shared = AuditService(AssistantConfig(audit_judge="model", audit_adapter="none"), service(FakeGenerator()), kb_root=str(tmp_path),
                          factory=factory)
    assert shared.writer() is shared.generator() and len(configs) == 1


def test_a_judge_with_an_adapter_never_writes_plans_even_when_passed_alone(tmp_path, monkeypatch):
    """build_auditor / compile_knowledge_base given only the judge (batch jobs, benches) load compile_model to write."""
    from assistant import models
    from assistant.audit_service import LazyCompiler, build_auditor

    judge_file = tmp_path / "judge.gguf"
    judge_file.write_bytes(b"GGUF")
    loaded, writers = [], []
    monkeypatch.setattr("assistant.backends.load_generator",
                        lambda config, progress=None: loaded.append(config) or writers.append(FakeGenerator(reply="{}"))
                        or writers[-1])
    judge = FakeGenerator()
    config = AssistantConfig(audit_judge="model", audit_model=models.DEFAULT_MODEL, audit_adapter=str(judge_file))
    auditor = build_auditor(object(), config=config, generator=judge)
    assert isinstance(auditor.compiler, LazyCompiler) and not loaded  # nothing loaded before a rule needs it
    plan = auditor.compiler("R1", "Thanks", "Agents thank the customer.")
    assert [(c.model, c.adapter) for c in loaded] == [(models.AUDIT_MODEL, "none")]  # compile_model, no adapter
    assert writers[0].prompts and not judge.prompts and plan.origin == "fallback"  # the judge never wrote


def test_follow_up_questions_work_when_the_judge_adapter_is_missing(tmp_path):
    from supportlens.service import AuditService

    audits = AuditService(AssistantConfig(audit_judge="model", audit_adapter=str(tmp_path / "gone.gguf")), service(FakeGenerator()),
                          kb_root=str(tmp_path), factory=lambda config: FakeGenerator(reply="It does not say."))
    *_, answer = audits.answer("Customer: Hi\nAgent: Hello", "Was a refund promised?")
    assert answer == "It does not say."


def test_an_audit_may_pick_its_judge_and_keeps_the_other_settings():
    from supportlens.service import AuditService

    config = AssistantConfig(audit_judge="model", adapter="none", audit_k=5)
    audits = AuditService(config)
    assert audits.judged_by(None) is config and audits.judged_by("model") is config
    trained = audits.judged_by("trained")
    assert trained.audit_judge == "trained" and trained.audit_k == 5 and trained.adapter == "none"
    assert audits.model_judge(trained) is None  # the trained judge needs no language model: nothing is loaded
