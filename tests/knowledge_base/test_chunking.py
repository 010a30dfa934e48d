"""Chunking keeps headings and rule ids: one rule section per chunk, long sections split on paragraphs."""

from __future__ import annotations

import pytest

from knowledge_base.chunking import Chunk, chunk_document, rule_id_of
from knowledge_base.documents import extract_text, read_source
from knowledge_base.errors import EmptyDocument
from tests.knowledge_base.conftest import RULES_TXT

TITLE = "Brightline Social Care Playbook"


@pytest.fixture
def playbook_chunks(playbook) -> list[Chunk]:
    src = read_source(playbook)
    return chunk_document(src.name, src.kind, extract_text(src))


def test_playbook_gives_a_preamble_and_one_chunk_per_rule(playbook_chunks):
    assert [c.rule_id for c in playbook_chunks] == [None] + [f"G{i}" for i in range(1, 11)]
    preamble = playbook_chunks[0]
    assert preamble.heading == TITLE and preamble.text.startswith("Brightline is a (fictional) consumer company")
    assert {c.source for c in playbook_chunks} == {"brightline-social-care-playbook.md"}


def test_rule_chunks_keep_their_heading_path_and_whole_section(playbook_chunks):
    g3 = playbook_chunks[3]
    assert g3.heading == f"{TITLE} > G3: Never ask for sensitive credentials"
    assert g3.text.startswith("Agents never ask for passwords")
    assert g3.text.endswith("- Not applicable: the agent asks the customer for no information at all.")
    assert "## " not in g3.text and "G4" not in g3.text
    assert g3.embedding_text.startswith(f"{TITLE} > G3: Never ask for sensitive credentials\n\nAgents never ask")


def test_chunk_ids_are_stable_unique_and_depend_on_content(playbook, playbook_chunks):
    src = read_source(playbook)
    again = chunk_document(src.name, src.kind, extract_text(src))
    assert [c.id for c in again] == [c.id for c in playbook_chunks]
    assert len({c.id for c in playbook_chunks}) == len(playbook_chunks)
    edited = chunk_document(src.name, src.kind, extract_text(src).replace("PINs", "PIN codes"))
    changed = [a.rule_id for a, b in zip(playbook_chunks, edited) if a.id != b.id]
    assert changed == ["G3"]
    renamed = chunk_document("other.md", src.kind, extract_text(src))
    assert not {c.id for c in renamed} & {c.id for c in playbook_chunks}


@pytest.mark.parametrize("heading, rule_id", [
    ("G3: Move account questions to DM", "G3"),
    ("R12. Refunds", "R12"),
    ("SEC-4) Passwords", "SEC-4"),
    ("G3 - Move account questions to DM", "G3"),
    ("G10: Timeframes", "G10"),
    ("Getting started", None),
    ("G3.1 Sub-rule", None),
    ("Step 2: do things", None),
    ("g3: lowercase", None),
    ("COVID19 notes", None),
])
def test_rule_id_forms(heading, rule_id):
    assert rule_id_of(heading) == rule_id


def test_txt_rule_lines_start_sections():
    chunks = chunk_document("acme-rules.txt", "text", RULES_TXT)
    assert [(c.rule_id, c.heading) for c in chunks] == [
        (None, "acme-rules"),
        ("R1", "acme-rules > R1: Greet the customer by name in the first reply."),
        ("R2", "acme-rules > R2: Refunds are never promised in chat."),
        ("SEC-4", "acme-rules > SEC-4: Never ask for a password or a one-time code."),
    ]
    assert chunks[0].text == "Acme support rules\nThese apply to every chat and email."
    assert chunks[2].text == "Send refund requests to the billing team instead."
    assert chunks[3].text == ""  # the rule is its heading line alone
    assert chunks[3].embedding_text == "acme-rules > SEC-4: Never ask for a password or a one-time code."


def test_txt_long_rule_line_is_shortened_in_heading_and_kept_in_text():
    line = "R7: " + "word " * 40
    (chunk,) = chunk_document("r.txt", "text", line)
    assert chunk.heading.endswith("...") and len(chunk.heading) < len("r > ") + 104
    assert chunk.text == line.strip()


def test_subheadings_stay_inside_their_rule_and_code_fences_are_not_headings():
    text = ("# Handbook\n\n## Tone\nBe warm.\n\n### Emoji\nSparingly.\n\n## R1: Refunds\nOnly in DM.\n\n"
            "### Examples\nGood: 'DM us'.\n\n```\n# not a heading\n```\n\n## Contacts\nBilling team.\n")
    chunks = chunk_document("h.md", "markdown", text)
    assert [(c.heading, c.rule_id) for c in chunks] == [
        ("Handbook > Tone", None),
        ("Handbook > Tone > Emoji", None),
        ("Handbook > R1: Refunds", "R1"),
        ("Handbook > Contacts", None),
    ]
    assert chunks[2].text == "Only in DM.\n\n### Examples\nGood: 'DM us'.\n\n```\n# not a heading\n```"


def test_long_rule_is_split_on_paragraphs_keeping_heading_and_rule_id():
    paragraphs = [f"Paragraph {i}. " + "x" * 180 for i in range(12)]
    text = "# T\n\n## G5: Offer a next step\n\n" + "\n\n".join(paragraphs) + "\n"
    chunks = chunk_document("t.md", "markdown", text, max_chars=500)
    assert len(chunks) == 6
    assert all(c.rule_id == "G5" and c.heading == "T > G5: Offer a next step" for c in chunks)
    assert all(len(c.text) <= 500 for c in chunks)
    assert "\n\n".join(c.text for c in chunks) == "\n\n".join(paragraphs)  # cut only between paragraphs
    assert len({c.id for c in chunks}) == 6


def test_one_huge_paragraph_is_split_on_words():
    chunks = chunk_document("t.txt", "text", "R1: x\n" + "lorem " * 1000, max_chars=300)
    assert len(chunks) > 1 and all(len(c.text) <= 300 for c in chunks)
    assert all(c.rule_id == "R1" for c in chunks)


def test_identical_sections_get_distinct_ids():
    chunks = chunk_document("d.md", "markdown", "## Note\nSame.\n\n## Note\nSame.\n")
    assert len(chunks) == 2 and chunks[0].id != chunks[1].id


def test_headings_without_any_text_is_an_empty_document():
    with pytest.raises(EmptyDocument, match="x.md has headings but no text"):
        chunk_document("x.md", "markdown", "# Title\n\n## Section\n")


def test_chunk_round_trips_through_its_manifest_form(playbook_chunks):
    assert [Chunk.from_dict(c.to_dict()) for c in playbook_chunks] == playbook_chunks
