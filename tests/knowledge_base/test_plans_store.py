"""Check plans stored with the knowledge base: compiled once per rule text, recompiled when a rule changes,
managers' overrides kept across rebuilds, numbered policy manuals read as rules."""

import json

import pytest

from assistant.audit_service import KnowledgeBaseRetriever, compile_knowledge_base, stale_rules
from assistant.plans import Plan, Spec, compile_rule, from_spec, rule_key
from knowledge_base.chunking import chunk_document
from knowledge_base.errors import DocumentNotFound, IndexCorrupt
from knowledge_base.store import KnowledgeBase
from tests.knowledge_base.conftest import PLAYBOOK, FakeEmbedder, make_pdf

PROSE = """# Acme manual

## 1. Tone

1.1 Every reply is signed with the agent's first name.

1.2 When a customer reports a late parcel, the agent apologises.
"""


def counting_compiler(calls):
    def compile_one(rule_id, heading, text):
        calls.append(rule_id)
        return compile_rule(None, rule_id, heading, text).to_dict()
    return compile_one


def test_plans_are_compiled_once_and_again_only_for_a_changed_rule(tmp_path):
    doc = tmp_path / "manual.md"
    doc.write_text(PROSE)
    kb = KnowledgeBase("acme", FakeEmbedder(), root=tmp_path / "kb")
    kb.build([doc])
    calls = []
    assert kb.compile_rules(counting_compiler(calls), rule_key) == (2, 0) and calls == ["1.1", "1.2"]
    assert kb.compile_rules(counting_compiler(calls), rule_key) == (0, 2) and len(calls) == 2  # nothing to do
    reopened = KnowledgeBase("acme", FakeEmbedder(), root=tmp_path / "kb")  # stored in the version on disk
    assert set(reopened.plans()) == {"1.1", "1.2"} and not stale_rules(reopened)
    doc.write_text(PROSE.replace("apologises", "apologises and says when the parcel will come"))
    kb.build([doc])
    assert stale_rules(kb) == ["1.2"]
    assert kb.compile_rules(counting_compiler(calls), rule_key) == (1, 1) and calls[-1] == "1.2"
    assert kb.compile_rules(lambda r, h, t: None, rule_key, force=True) == (2, 0)  # None: left without a plan
    assert kb.plans() == {} and stale_rules(kb) == ["1.1", "1.2"]


def test_an_override_survives_a_rebuild_and_is_what_audits_use(tmp_path):
    kb = KnowledgeBase("brightline", FakeEmbedder(), root=tmp_path / "kb")
    kb.build([PLAYBOOK])
    kb.compile_rules(counting_compiler([]), rule_key)
    heading, text = kb.rule_texts()["G6"]
    spec = Spec("when", "Does this reply promise a refund?", "no_reply", "Does this message mention a refund?", "anyone")
    kb.set_override("G6", {"plan": from_spec("G6", heading, text, spec, "override").to_dict()})
    kb.build([PLAYBOOK], rebuild=True)
    kb.compile_rules(counting_compiler([]), rule_key, force=True)
    plan = KnowledgeBaseRetriever(KnowledgeBase("brightline", FakeEmbedder(), root=tmp_path / "kb")).plans()["G6"]
    assert plan.origin == "override" and plan.spec == spec
    kb.set_override("G6", None)
    assert Plan.from_dict(kb.plans()["G6"]).origin == "clauses"
    with pytest.raises(DocumentNotFound, match="No rule 'G99'"):
        kb.set_override("G99", {"plan": {}})


def test_a_corrupt_overrides_file_is_reported_with_the_fix(tmp_path):
    kb = KnowledgeBase("brightline", FakeEmbedder(), root=tmp_path / "kb")
    kb.build([PLAYBOOK])
    (tmp_path / "kb" / "brightline" / "overrides.json").write_text("{not json")
    with pytest.raises(IndexCorrupt, match="fix or delete it"):
        kb.plans()


def test_compile_knowledge_base_loads_no_model_when_nothing_is_stale(tmp_path):
    kb = KnowledgeBase("brightline", FakeEmbedder(), root=tmp_path / "kb")
    kb.build([PLAYBOOK])
    kb.compile_rules(counting_compiler([]), rule_key)
    assert compile_knowledge_base(kb, generator=object()) == (0, 10)  # a generator that cannot run: never used


def test_numbered_manuals_in_markdown_text_and_pdf():
    md = chunk_document("manual.md", "markdown", PROSE)
    assert [(c.rule_id, c.heading.split(" > ")[-1][:20]) for c in md if c.rule_id] == [
        ("1.1", "1.1 Every reply is s"), ("1.2", "1.2 When a customer ")]
    assert md[1].heading.startswith("Acme manual > 1. Tone > ")
    txt = chunk_document("addendum.txt", "text", "Addendum\n5.1 Close politely.\n5.2 Say who handles it,\nand how.\n")
    assert [c.rule_id for c in txt] == [None, "5.1", "5.2"]
    listed = chunk_document("g.md", "markdown", "## G3: Credentials\nNever ask.\n\n1.1 not a rule inside a rule\n")
    assert [c.rule_id for c in listed] == ["G3"]  # numbered lines inside a rule section stay in it


def test_a_heading_ends_a_numbered_rule_and_opens_the_next_section():
    """A numbered paragraph is a rule up to the next heading, which is the next section's, not a line of the rule:
    rule 1.1 of a manual did not end at "## 2. Disruption" and was compiled as a question about a disruption."""
    md = chunk_document("manual.md", "markdown", "# Manual\n\n## 1. Form\n\n1.1 Every reply is signed.\n\n"
                        "## 2. Disruption\n\n2.1 When a flight is late, apologise.\n\n### Notes\n\nNone.\n")
    rules = {c.rule_id: c for c in md if c.rule_id}
    assert rules["1.1"].text == "1.1 Every reply is signed."
    assert rules["1.1"].heading == "Manual > 1. Form > 1.1 Every reply is signed."
    assert rules["2.1"].heading == "Manual > 2. Disruption > 2.1 When a flight is late, apologise."
    assert rules["2.1"].text == "2.1 When a flight is late, apologise."
    assert [c.heading for c in md if not c.rule_id][-1] == "Manual > 2. Disruption > Notes"


def test_a_pdf_manual_is_read_rule_by_rule(tmp_path):
    from knowledge_base.documents import extract_text, read_source

    path = tmp_path / "addendum.pdf"
    path.write_bytes(make_pdf([["Addendum", "5.1 The last reply closes", "politely.", "5.2 Say who handles it."]]))
    src = read_source(path)
    chunks = chunk_document(src.name, src.kind, extract_text(src))
    assert [c.rule_id for c in chunks if c.rule_id] == ["5.1", "5.2"]
