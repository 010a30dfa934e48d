"""The company's guideline documents, chunked by heading, embedded and indexed in FAISS, one store per organisation.

ingest (``documents``) -> chunk (``chunking``) -> embed (``embedder``) -> index and search (``store``), persisted
as versioned folders (``versions``); entry points ``python -m knowledge_base.build|list|search`` (each one's
docstring shows the command).
"""
