"""KnowledgeBase on a real FAISS index with the fake embedder: round trip, re-indexing, delete, rules, search."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from knowledge_base import store
from knowledge_base.documents import extract_text
from knowledge_base.errors import DocumentNotFound, DuplicateDocument, EmptyDocument, IndexNotBuilt, InvalidQuery
from knowledge_base.store import KB_ENV, KnowledgeBase, default_root
from tests.knowledge_base.conftest import FakeEmbedder

PASSWORD_QUERY = "agent asked for the customer password, card number, CVV, PIN or one-time code"


def version_names(kb: KnowledgeBase) -> list[str]:
    return sorted(p.name for p in kb.folder.iterdir() if p.name.startswith("v-"))


def current(kb: KnowledgeBase) -> str:
    return (kb.folder / "CURRENT").read_text().strip()


@pytest.fixture
def kb(tmp_path, fake_embedder) -> KnowledgeBase:
    return KnowledgeBase("acme", fake_embedder, root=tmp_path / "kb")


def test_build_then_reopen_from_disk_and_search(kb, playbook, tmp_path):
    report = kb.build([playbook])
    assert (report.added, report.updated, report.unchanged, report.removed) == (1, 0, 0, 0)
    assert report.chunks == report.embedded == 11 and report.version == current(kb)
    assert sorted(p.name for p in (kb.folder / report.version).iterdir()) == ["index.faiss", "manifest.json"]

    reader = FakeEmbedder()
    reopened = KnowledgeBase("acme", reader, root=tmp_path / "kb")
    hits = reopened.search(PASSWORD_QUERY, k=3)
    assert reader.embedded == [PASSWORD_QUERY]  # opening embedded no document, only the query
    assert hits[0].chunk.rule_id == "G3"
    assert hits[0].chunk.heading == "Brightline Social Care Playbook > G3: Never ask for sensitive credentials"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    expected = float(reader.embed([PASSWORD_QUERY])[0] @ reader.embed([hits[0].chunk.embedding_text])[0])
    assert hits[0].score == pytest.approx(expected, abs=1e-5)  # the score is the cosine similarity


def test_manifest_and_index_agree_row_by_row(kb, playbook):
    version = kb.build([playbook]).version
    manifest = json.loads((kb.folder / version / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and manifest["org"] == "acme"
    assert manifest["embedder"] == {"name": "fake-bow-64", "dim": 64}
    doc = manifest["documents"]["brightline-social-care-playbook.md"]
    assert doc["kind"] == "markdown" and len(doc["sha256"]) == 64 and doc["chunk_ids"] == [c["id"] for c in manifest["chunks"]]
    index = faiss.read_index(str(kb.folder / version / "index.faiss"))
    stored = index.reconstruct_n(0, index.ntotal)
    fresh = FakeEmbedder().embed([f"{c['heading']}\n\n{c['text']}".strip() for c in manifest["chunks"]])
    assert np.allclose(stored, fresh, atol=1e-6)


def test_documents_rules_and_chunks(kb, playbook, rules_txt):
    kb.build([playbook, rules_txt])
    docs = {d.source: d for d in kb.documents()}
    assert docs["acme-rules.txt"].rule_ids == ("R1", "R2", "SEC-4") and docs["acme-rules.txt"].chunk_count == 4
    assert docs["brightline-social-care-playbook.md"].rule_ids == tuple(f"G{i}" for i in range(1, 11))
    rules = kb.rules()
    assert sorted(rules) == sorted([f"G{i}" for i in range(1, 11)] + ["R1", "R2", "SEC-4"])
    assert rules["R2"][0].text == "Send refund requests to the billing team instead."
    assert len(kb.chunks()) == 15


def test_unchanged_rebuild_embeds_nothing_and_writes_nothing(kb, playbook, fake_embedder, monkeypatch):
    first = kb.build([playbook]).version
    manifest = kb.folder / first / "manifest.json"
    mtime = manifest.stat().st_mtime_ns
    fake_embedder.calls.clear()
    read = []
    monkeypatch.setattr(store, "extract_text", lambda src: read.append(src.name) or extract_text(src))
    report = kb.build([playbook.parent])  # the folder: same file, found by walking
    assert (report.unchanged, report.embedded, report.version) == (1, 0, None)
    assert fake_embedder.calls == [] and read == []  # not even re-parsed
    assert version_names(kb) == [first] and current(kb) == first and manifest.stat().st_mtime_ns == mtime


def test_changed_file_replaces_its_chunks_and_embeds_only_new_text(kb, playbook, tmp_path, fake_embedder):
    copy = tmp_path / playbook.name
    copy.write_text(playbook.read_text())
    first = kb.build([copy]).version
    edited = playbook.read_text().replace("Agents never ask for passwords", "Agents never request passwords")
    edited = edited[: edited.index("## G10")]  # and drop the last rule
    copy.write_text(edited)
    fake_embedder.calls.clear()
    report = kb.build([copy])
    assert (report.added, report.updated, report.unchanged) == (0, 1, 0)
    assert report.embedded == 1 and len(fake_embedder.embedded) == 1 and "never request" in fake_embedder.embedded[0]
    assert version_names(kb) == [report.version] != [first]  # the old version folder is gone
    texts = [c.text for c in kb.chunks()]
    assert any("never request passwords" in t for t in texts) and not any("never ask for passwords" in t for t in texts)
    assert "G10" not in kb.rules() and len(kb.chunks()) == 10


def test_same_file_name_from_another_folder_updates_the_document(kb, playbook, tmp_path):
    kb.build([playbook])
    upload = tmp_path / "upload" / playbook.name
    upload.parent.mkdir()
    upload.write_text("# New playbook\n\n## G1: Only rule\nBe kind.\n")
    report = kb.build([upload])
    assert (report.added, report.updated) == (0, 1)
    assert list(kb.rules()) == ["G1"] and [d.source for d in kb.documents()] == [playbook.name]


def test_rebuild_re_embeds_everything_and_keeps_only_given_files(kb, playbook, rules_txt, fake_embedder):
    kb.build([playbook, rules_txt])
    fake_embedder.calls.clear()
    report = kb.build([playbook], rebuild=True)
    assert (report.unchanged, report.removed, report.embedded, report.chunks) == (1, 1, 11, 11)
    assert len(fake_embedder.embedded) == 11
    assert [d.source for d in kb.documents()] == [playbook.name]


def test_delete_removes_a_document_without_embedding(kb, playbook, rules_txt, fake_embedder):
    kb.build([playbook, rules_txt])
    fake_embedder.calls.clear()
    report = kb.delete("acme-rules.txt")
    assert (report.removed, report.chunks, report.embedded) == (1, 11, 0) and fake_embedder.calls == []
    assert [d.source for d in kb.documents()] == [playbook.name] and "R1" not in kb.rules()
    assert all(h.chunk.source == playbook.name for h in kb.search("refund billing team", k=11))
    with pytest.raises(DocumentNotFound, match="No document named 'acme-rules.txt'.*stored: brightline"):
        kb.delete("acme-rules.txt")


def test_deleting_the_last_document_leaves_an_empty_store(kb, rules_txt):
    kb.build([rules_txt])
    kb.delete(rules_txt.name)
    assert kb.documents() == [] and kb.rules() == {}
    with pytest.raises(IndexNotBuilt, match="holds no documents"):
        kb.search("refund")


def test_search_arguments_are_validated_and_k_is_capped(kb, rules_txt):
    kb.build([rules_txt])
    with pytest.raises(InvalidQuery, match="empty"):
        kb.search("   ")
    with pytest.raises(InvalidQuery, match="k must be at least 1"):
        kb.search("refund", k=0)
    assert len(kb.search("refund", k=50)) == 4


def test_progress_reports_each_batch(kb, tmp_path):
    path = tmp_path / "many.md"
    path.write_text("# Many\n\n" + "".join(f"## R{i}: Rule {i}\nText of rule number {i}.\n\n" for i in range(70)))
    calls = []
    kb.build([path], progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 70), (32, 70), (64, 70), (70, 70)]


def test_a_bad_document_stops_the_build_before_anything_is_written(kb, playbook, tmp_path, fake_embedder):
    first = kb.build([playbook]).version
    (tmp_path / "blank.md").write_text("\n")
    fake_embedder.calls.clear()
    with pytest.raises(EmptyDocument, match="blank.md"):
        kb.build([tmp_path / "blank.md", playbook])
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        (folder / "same.md").write_text(f"# {folder.name}\nx")
    with pytest.raises(DuplicateDocument):
        kb.build([a, b])
    assert fake_embedder.calls == [] and version_names(kb) == [first] and current(kb) == first


def test_embedder_breaking_its_contract_is_reported(tmp_path, playbook):
    from assistant.errors import ModelUnavailable

    class Unnormalised(FakeEmbedder):
        def embed(self, texts):
            return super().embed(texts) * 2

    with pytest.raises(ModelUnavailable, match="not L2-normalised"):
        KnowledgeBase("acme", Unnormalised(), root=tmp_path).build([playbook])


def test_default_root_comes_from_the_environment(monkeypatch, tmp_path, fake_embedder):
    monkeypatch.setenv(KB_ENV, str(tmp_path / "stores"))
    assert default_root() == tmp_path / "stores"
    assert KnowledgeBase("acme", fake_embedder).folder == tmp_path / "stores" / "acme"
    monkeypatch.delenv(KB_ENV)
    assert default_root().parts[-4:] == (".local", "share", "supportlens", "kb")
