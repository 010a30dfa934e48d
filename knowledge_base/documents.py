"""Ingestion: find guideline files, read them (size-checked, hashed) and extract their text.

Markdown (.md, .markdown) and plain text (.txt) are read as UTF-8; PDF text comes from pypdf. A document is
keyed by its file name, so re-uploading a file with the same name replaces the stored one.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from assistant.errors import require
from knowledge_base.errors import (
    DocumentTooLarge,
    DuplicateDocument,
    EmptyDocument,
    UnreadableDocument,
    UnsupportedDocument,
)

KINDS: dict[str, str] = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".pdf": "pdf"}
# Guideline documents are a few pages; 10 MB leaves room for PDFs with images and stops a stray dump early.
MAX_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class SourceFile:
    """A guideline file as read from disk: its name (the document key), kind, sha256 and raw bytes."""

    name: str
    path: Path
    kind: str  # "markdown" | "text" | "pdf"
    sha256: str
    data: bytes = field(repr=False)


def kind_of(path: Path) -> str:
    """The document kind of ``path`` from its extension, or UnsupportedDocument."""
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        raise UnsupportedDocument(
            f"{path.name}: unsupported file type {path.suffix or '(no extension)'!r}; "
            f"give Markdown, text or PDF files ({', '.join(KINDS)})."
        )
    return kind


def collect_paths(paths: Iterable[str | Path]) -> list[Path]:
    """The files to ingest: given files as is, folders walked (recursively, sorted) for supported extensions.

    Hidden files and folders are skipped. A given file with another extension, a missing path, a folder with
    no supported file, or two files sharing a name raise a DocumentError.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            inside = [
                p for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in KINDS
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            ]
            if not inside:
                raise EmptyDocument(f"{path}: no {', '.join(KINDS)} files in this folder.")
            found.extend(inside)
        elif path.is_file():
            kind_of(path)
            found.append(path)
        else:
            raise UnreadableDocument(f"{path}: no such file or folder.")
    by_name: dict[str, Path] = {}
    for path in found:
        if path.name in by_name and by_name[path.name].resolve() != path.resolve():
            raise DuplicateDocument(
                f"Two files are named {path.name} ({by_name[path.name]} and {path}); documents are keyed by "
                "file name, so rename one of them."
            )
        by_name[path.name] = path
    return list(by_name.values())


def read_source(path: str | Path, max_bytes: int | None = None) -> SourceFile:
    """Read ``path`` (after checking its extension and size) and hash its bytes."""
    path = Path(path)
    kind = kind_of(path)
    limit = MAX_BYTES if max_bytes is None else max_bytes
    try:
        size = path.stat().st_size
        if size > limit:
            raise DocumentTooLarge(
                f"{path.name} is {size / 2**20:.1f} MiB, over the {limit / 2**20:g} MiB limit; split it into smaller "
                "documents."
            )
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableDocument(f"{path.name}: cannot read the file ({exc.strerror or exc}).") from exc
    return SourceFile(path.name, path, kind, hashlib.sha256(data).hexdigest(), data)


def extract_text(source: SourceFile) -> str:
    """The document's text with ``\\n`` newlines; EmptyDocument when there is none."""
    if source.kind == "pdf":
        text = _pdf_text(source)
    else:
        try:
            text = source.data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UnreadableDocument(
                f"{source.name} is not UTF-8 text (byte {exc.start}); save it as UTF-8 and try again."
            ) from exc
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        hint = " (a scanned PDF has no text layer: run OCR on it first)" if source.kind == "pdf" else ""
        raise EmptyDocument(f"{source.name} contains no text{hint}.")
    return text


def _pdf_text(source: SourceFile) -> str:
    """Page texts joined by blank lines. Any pypdf failure means a corrupt or unsupported PDF."""
    pypdf = require("pypdf")
    try:
        reader = pypdf.PdfReader(io.BytesIO(source.data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocument(f"{source.name} is a password-protected PDF; save an unprotected copy.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except UnreadableDocument:
        raise
    except Exception as exc:  # pypdf raises many types (PdfReadError, ValueError, KeyError...) on bad input
        raise UnreadableDocument(
            f"{source.name} is not a readable PDF ({type(exc).__name__}: {exc}); re-export it and try again."
        ) from exc
    return "\n\n".join(p.strip() for p in pages)
