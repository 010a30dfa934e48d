"""Ingestion: supported kinds, folder walking, and a clear error for each kind of bad input."""

from __future__ import annotations

import hashlib

import pytest

from knowledge_base import documents
from knowledge_base.documents import collect_paths, extract_text, read_source
from knowledge_base.errors import (DocumentTooLarge, DuplicateDocument, EmptyDocument, UnreadableDocument,
                                   UnsupportedDocument)
from tests.knowledge_base.conftest import make_pdf


def test_markdown_is_read_hashed_and_keyed_by_file_name(playbook):
    src = read_source(playbook)
    assert (src.name, src.kind) == ("brightline-social-care-playbook.md", "markdown")
    assert src.sha256 == hashlib.sha256(playbook.read_bytes()).hexdigest()
    assert extract_text(src).startswith("# Brightline Social Care Playbook\n")


def test_text_with_bom_and_crlf_is_normalised(tmp_path):
    path = tmp_path / "rules.txt"
    path.write_bytes("\ufeffR1: Be kind.\r\nAlways.\r\n".encode())
    assert extract_text(read_source(path)) == "R1: Be kind.\nAlways.\n"


def test_pdf_text_is_extracted_page_by_page(tmp_path):
    path = tmp_path / "policy.pdf"
    path.write_bytes(make_pdf([["Acme PDF policy", "P1: Verify identity in DM."], ["P2: Never share notes."]]))
    src = read_source(path)
    assert src.kind == "pdf"
    text = extract_text(src)
    assert "P1: Verify identity in DM." in text and "P2: Never share notes." in text
    assert text.index("P1") < text.index("P2")


def test_folder_is_walked_for_supported_files_only(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.md").write_text("# A\ntext")
    (tmp_path / "sub" / "b.TXT").write_text("text")
    (tmp_path / "sub" / "c.pdf").write_bytes(make_pdf([["text"]]))
    (tmp_path / "notes.docx").write_text("ignored")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "d.md").write_text("ignored")
    assert sorted(p.name for p in collect_paths([tmp_path])) == ["a.md", "b.TXT", "c.pdf"]


def test_given_file_with_unsupported_extension_is_rejected(tmp_path):
    path = tmp_path / "notes.docx"
    path.write_text("x")
    with pytest.raises(UnsupportedDocument, match=r"notes.docx.*'\.docx'.*\.md"):
        collect_paths([path])


def test_missing_path_and_empty_folder_are_reported(tmp_path):
    with pytest.raises(UnreadableDocument, match="no such file"):
        collect_paths([tmp_path / "nope.md"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyDocument, match="no .md"):
        collect_paths([tmp_path / "empty"])


def test_two_files_with_the_same_name_are_rejected(tmp_path):
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "rules.md").write_text(f"# {sub}\ntext")
    with pytest.raises(DuplicateDocument, match="rules.md"):
        collect_paths([tmp_path / "x", tmp_path / "y"])
    assert len(collect_paths([tmp_path / "x" / "rules.md", tmp_path / "x"])) == 1  # the same file twice is fine


@pytest.mark.parametrize("data", [b"not a pdf at all", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog", b""])
def test_corrupt_pdf_is_unreadable(tmp_path, data):
    path = tmp_path / "broken.pdf"
    path.write_bytes(data)
    with pytest.raises(UnreadableDocument, match="broken.pdf is not a readable PDF"):
        extract_text(read_source(path))


def test_pdf_without_text_layer_is_empty(tmp_path):
    path = tmp_path / "scan.pdf"
    path.write_bytes(make_pdf([[]]))
    with pytest.raises(EmptyDocument, match="scan.pdf contains no text.*OCR"):
        extract_text(read_source(path))


@pytest.mark.parametrize("content", [b"", b"  \n\n\t \n"])
def test_blank_text_is_empty(tmp_path, content):
    path = tmp_path / "blank.md"
    path.write_bytes(content)
    with pytest.raises(EmptyDocument, match="blank.md contains no text"):
        extract_text(read_source(path))


def test_non_utf8_text_is_unreadable(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("R1: café".encode("latin-1"))
    with pytest.raises(UnreadableDocument, match="not UTF-8"):
        extract_text(read_source(path))


def test_file_over_the_size_limit_is_rejected_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "huge.md"
    path.write_bytes(b"x" * 2001)
    with pytest.raises(DocumentTooLarge, match="huge.md .* over the"):
        read_source(path, max_bytes=2000)
    monkeypatch.setattr(documents, "MAX_BYTES", 2000)
    with pytest.raises(DocumentTooLarge):
        read_source(path)
    assert read_source(path, max_bytes=2001).name == "huge.md"


def test_default_limit_is_ten_megabytes(tmp_path):
    path = tmp_path / "sparse.txt"
    with open(path, "wb") as f:  # a sparse file: 10 MB + 1 byte without writing them
        f.truncate(10 * 1024 * 1024 + 1)
    with pytest.raises(DocumentTooLarge, match="10 MiB limit"):
        read_source(path)
