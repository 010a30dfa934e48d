"""Knowledge-base errors. The library raises these; the CLIs and the app turn them into messages."""

from __future__ import annotations

from assistant.errors import SupportLensError

BUILD_HINT = "build it with: python -m knowledge_base.build --org {org} FILES..."
REBUILD_HINT = "rebuild it with: python -m knowledge_base.build --org {org} --rebuild FILES..."


class KnowledgeBaseError(SupportLensError):
    """Base class of every knowledge-base error."""


class DocumentError(KnowledgeBaseError, ValueError):
    """A guideline document cannot be ingested. The message names the file and what to do."""


class UnsupportedDocument(DocumentError):
    """The file's extension is not one we ingest (.md, .markdown, .txt, .pdf)."""


class UnreadableDocument(DocumentError):
    """The file is missing, unreadable, not UTF-8 text, or a corrupt/encrypted PDF."""


class EmptyDocument(DocumentError):
    """The document holds no text (an empty file, or a scanned PDF without a text layer)."""


class DocumentTooLarge(DocumentError):
    """The file is larger than the ingestion limit."""


class DuplicateDocument(DocumentError):
    """Two files given to one build share a file name (documents are keyed by file name)."""


class DocumentNotFound(KnowledgeBaseError, LookupError):
    """No document of that name is in the organisation's knowledge base."""


class InvalidOrgName(KnowledgeBaseError, ValueError):
    """An organisation name that is not a safe folder name."""


class InvalidQuery(KnowledgeBaseError, ValueError):
    """An empty search query or a non-positive ``k``."""


class IndexNotBuilt(KnowledgeBaseError):
    """The organisation has no knowledge base yet (or it holds no documents)."""


class IndexCorrupt(KnowledgeBaseError):
    """The stored index cannot be read or is inconsistent with its manifest."""


class IndexMismatch(KnowledgeBaseError):
    """The stored index was built with another embedder (name or dimension) than the configured one."""
