"""A store survives crashed builds, reports corruption and embedder mismatches, and keeps organisations apart."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from knowledge_base import versions
from knowledge_base.errors import IndexCorrupt, IndexMismatch, IndexNotBuilt, InvalidOrgName
from knowledge_base.store import KnowledgeBase
from tests.knowledge_base.conftest import FakeEmbedder
from tests.knowledge_base.test_store import PASSWORD_QUERY, current, version_names

REBUILD = "python -m knowledge_base.build --org acme --rebuild FILES"


@pytest.fixture
def built(tmp_path, playbook, fake_embedder) -> KnowledgeBase:
    kb = KnowledgeBase("acme", fake_embedder, root=tmp_path / "kb")
    kb.build([playbook])
    return kb


def reopen(kb: KnowledgeBase, embedder: FakeEmbedder | None = None) -> KnowledgeBase:
    return KnowledgeBase(kb.org, embedder or FakeEmbedder(), root=kb.root)


def assert_previous_version_serves(kb: KnowledgeBase, version: str) -> None:
    assert current(kb) == version and version_names(kb) == [version]
    fresh = reopen(kb)
    assert fresh.search(PASSWORD_QUERY)[0].chunk.rule_id == "G3"
    assert [d.source for d in fresh.documents()] == ["brightline-social-care-playbook.md"]


# ----- crashes -----
def test_crash_while_embedding_keeps_the_previous_version(built, rules_txt, tmp_path):
    first = current(built)
    many = tmp_path / "many.md"
    many.write_text("".join(f"## R{i}: Rule {i}\nText {i}.\n\n" for i in range(60)))
    crashing = KnowledgeBase("acme", FakeEmbedder(fail_after=40), root=built.root)
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashing.build([many, rules_txt])
    assert_previous_version_serves(built, first)


@pytest.mark.parametrize("step", ["write_index", "replace"])
def test_crash_while_writing_keeps_the_previous_version(built, rules_txt, monkeypatch, step):
    first = current(built)

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if step == "write_index":
        monkeypatch.setattr(faiss, "write_index", boom)
    else:
        monkeypatch.setattr(versions.os, "replace", boom)
    with pytest.raises(OSError, match="No space left"):
        built.build([rules_txt])
    monkeypatch.undo()
    assert_previous_version_serves(built, first)  # the half-written folder was removed too


def test_leftovers_of_a_killed_build_are_ignored_then_cleaned_by_the_next_build(built, playbook):
    first = current(built)
    partial = built.folder / "v-1-abcdef"
    partial.mkdir()
    (partial / "manifest.json").write_text("{trunc")
    (built.folder / "CURRENT.tmp-v-1-abcdef").write_text("v-1-abcdef")
    assert reopen(built).search(PASSWORD_QUERY)[0].chunk.rule_id == "G3"
    assert built.build([playbook]).version is None  # nothing changed, but the leftovers go
    assert sorted(p.name for p in built.folder.iterdir()) == [".lock", "CURRENT", first]


# ----- corruption -----
def test_no_store_says_how_to_build_it(tmp_path, fake_embedder):
    kb = KnowledgeBase("acme", fake_embedder, root=tmp_path)
    with pytest.raises(IndexNotBuilt, match=r"No knowledge base for 'acme'.*python -m knowledge_base.build --org acme FILES"):
        kb.search("x")
    kb.folder.mkdir(parents=True)  # a folder without CURRENT (a first build that crashed) is still "not built"
    with pytest.raises(IndexNotBuilt):
        kb.documents()


def corrupt_manifest(kb):
    (kb.folder / current(kb) / "manifest.json").write_text('{"format_version": 1, "org": "ac')


def missing_index(kb):
    (kb.folder / current(kb) / "index.faiss").unlink()


def truncated_index(kb):
    path = kb.folder / current(kb) / "index.faiss"
    path.write_bytes(path.read_bytes()[:100])


def fewer_vectors(kb):
    index = faiss.IndexFlatIP(64)
    index.add(np.eye(64, dtype=np.float32)[:5])
    faiss.write_index(index, str(kb.folder / current(kb) / "index.faiss"))


def bad_pointer(kb):
    (kb.folder / "CURRENT").write_text("../globex/v-1-abcdef")


def missing_chunk_field(kb):
    path = kb.folder / current(kb) / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["chunks"][0]["text"]
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("damage, message", [
    (corrupt_manifest, "manifest.json is missing or unreadable"),
    (missing_index, "index.faiss is missing"),
    (truncated_index, "index.faiss is unreadable"),
    (fewer_vectors, "holds 5 vectors of dim 64, the manifest lists 11 chunks"),
    (bad_pointer, "CURRENT file names no version folder"),
    (missing_chunk_field, "manifest.json lacks a field"),
])
def test_corruption_is_detected_with_a_rebuild_hint(built, playbook, damage, message):
    damage(built)
    kb = reopen(built)
    with pytest.raises(IndexCorrupt, match=message) as excinfo:
        kb.search("x")
    assert REBUILD in str(excinfo.value)
    with pytest.raises(IndexCorrupt):
        kb.build([playbook])  # an incremental build cannot start from a corrupt store
    report = kb.build([playbook], rebuild=True)
    assert report.version == current(kb) and kb.search(PASSWORD_QUERY)[0].chunk.rule_id == "G3"


@pytest.mark.parametrize("embedder, message", [
    (FakeEmbedder(name="other-model"), r"built with the embedder 'fake-bow-64' \(64-dim\).*'other-model' \(64-dim\)"),
    (FakeEmbedder(dim=32), r"'fake-bow-64' \(64-dim\).*'fake-bow-64' \(32-dim\)"),
])
def test_another_embedder_is_a_mismatch_until_rebuilt(built, playbook, embedder, message):
    kb = reopen(built, embedder)
    with pytest.raises(IndexMismatch, match=message) as excinfo:
        kb.search("x")
    assert REBUILD in str(excinfo.value)
    kb.build([playbook], rebuild=True)
    assert reopen(built, FakeEmbedder(name=embedder.name, dim=embedder.dim)).search("password")


# ----- organisations -----
def test_each_organisation_sees_only_its_own_documents(tmp_path, playbook, rules_txt, fake_embedder):
    acme = KnowledgeBase("acme", fake_embedder, root=tmp_path)
    globex = KnowledgeBase("globex", fake_embedder, root=tmp_path)
    acme.build([playbook])
    globex.build([rules_txt])
    assert {h.chunk.source for h in acme.search("refund password billing", k=20)} == {playbook.name}
    assert {h.chunk.source for h in globex.search("refund password billing", k=20)} == {rules_txt.name}
    assert "R1" not in acme.rules() and "G1" not in globex.rules()
    (globex.folder / "CURRENT").unlink()  # another org's broken store does not affect this one
    assert reopen(acme).search(PASSWORD_QUERY)[0].chunk.rule_id == "G3"


def test_a_store_copied_from_another_organisation_is_refused(tmp_path, playbook, fake_embedder):
    import shutil

    KnowledgeBase("acme", fake_embedder, root=tmp_path).build([playbook])
    shutil.copytree(tmp_path / "acme", tmp_path / "globex")
    with pytest.raises(IndexCorrupt, match="belongs to organisation 'acme'"):
        KnowledgeBase("globex", fake_embedder, root=tmp_path).search("x")


@pytest.mark.parametrize("org", ["../x", "acme/../globex", "Acme", "", "a" * 65, ".", "acme corp", "/etc", "acmé"])
def test_unsafe_org_names_are_rejected(org, fake_embedder, tmp_path):
    with pytest.raises(InvalidOrgName, match="lowercase letters, digits"):
        KnowledgeBase(org, fake_embedder, root=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("org", ["a", "acme-support_2", "9" * 64])
def test_safe_org_names_are_accepted(org, fake_embedder, tmp_path):
    assert KnowledgeBase(org, fake_embedder, root=tmp_path).folder == tmp_path / org


# ----- readers and writers in different processes -----
def test_an_open_reader_follows_a_build_made_by_another_writer(built, rules_txt):
    reader = reopen(built)
    assert "R1" not in reader.rules()
    reopen(built).build([rules_txt])  # e.g. the CLI, while the app holds `reader`
    assert "R1" in reader.rules()


def test_a_version_removed_while_being_read_is_retried_on_the_new_one(built, rules_txt):
    reader = reopen(built)
    original = reader.versions.read_manifest
    switched = []

    def read_manifest(name):
        if not switched:  # a writer switches CURRENT and prunes `name` just before we open it
            switched.append(reopen(built).build([rules_txt]).version)
        return original(name)

    reader.versions.read_manifest = read_manifest
    assert "R1" in reader.rules() and current(built) == switched[0]
