"""One FAISS knowledge base per organisation: build it incrementally from files, list it, search it.

Indexing goes through langchain's ``FAISS`` (unit vectors, inner product = cosine). Persistence never pickles:
``versions.VersionFolder`` writes the raw faiss index and a JSON manifest into a new version folder and
switches a pointer atomically; on load, langchain's ``FAISS`` is rebuilt from ``faiss.read_index`` and an
``InMemoryDocstore`` made from the manifest. Re-indexing reuses the stored vectors of unchanged files and
of chunks whose text is already stored (``index.reconstruct_n``); only new text is embedded.
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from assistant.errors import ModelUnavailable, require
from knowledge_base.chunking import MAX_CHARS, Chunk, chunk_document
from knowledge_base.documents import SourceFile, collect_paths, extract_text, read_source
from knowledge_base.embedder import Embedder, langchain_embeddings
from knowledge_base.errors import (BUILD_HINT, REBUILD_HINT, DocumentError, DocumentNotFound, IndexNotBuilt,
                                   IndexCorrupt, IndexMismatch, InvalidOrgName, InvalidQuery)
from knowledge_base.versions import FORMAT_VERSION, VersionFolder

KB_ENV = "SUPPORTLENS_KB"
ORG_NAME = re.compile(r"[a-z0-9_-]{1,64}")
EMBED_BATCH = 32
ProgressFn = Callable[[int, int], None]
OVERRIDES = "overrides.json"
# A rule compiler (assistant.plans): (rule_id, heading, text) -> the plan as a dict with its "key"; and the key a
# rule's text would have, to know whether a stored plan is still the rule's.
Compile = Callable[[str, str, str], dict]
RuleKey = Callable[[str, str], str]


def default_root() -> Path:
    """Where knowledge bases live: ``$SUPPORTLENS_KB`` or ``~/.local/share/supportlens/kb``."""
    return Path(os.environ.get(KB_ENV) or Path.home() / ".local" / "share" / "supportlens" / "kb").expanduser()


def validate_org(org: str) -> str:
    """``org`` if it is a safe folder name (lowercase letters, digits, ``-``, ``_``; 1-64 chars)."""
    if not isinstance(org, str) or not ORG_NAME.fullmatch(org):
        raise InvalidOrgName(
            f"Invalid organisation name {org!r}: use 1-64 lowercase letters, digits, '-' or '_' (e.g. acme-support)."
        )
    return org


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk and its cosine similarity to the query (higher is closer, at most 1)."""

    chunk: Chunk
    score: float


@dataclass(frozen=True)
class DocumentInfo:
    """A stored document: its file name, content hash, kind, size and what it was indexed as."""

    source: str
    sha256: str
    kind: str
    chars: int
    chunk_count: int
    rule_ids: tuple[str, ...]


@dataclass(frozen=True)
class BuildReport:
    """What a build or delete did. ``version`` is None when nothing changed and nothing was written."""

    org: str
    added: int
    updated: int
    unchanged: int
    removed: int
    chunks: int  # chunks in the store afterwards
    embedded: int  # chunks embedded by this build (the others reused their stored vectors)
    seconds: float
    version: str | None

    def summary(self) -> str:
        """One line for people."""
        written = f"version {self.version}" if self.version else "nothing changed, nothing written"
        return (f"{self.org}: {self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.removed} removed; {self.chunks} chunks ({self.embedded} embedded) in "
                f"{self.seconds:.2f} s; {written}")


@dataclass
class _Loaded:
    """One version read into memory: its manifest's documents and chunks, and langchain's FAISS over its index."""

    version: str
    documents: dict[str, dict]  # source name -> {sha256, kind, chars, chunk_ids}
    chunks: list[Chunk]  # index order
    vectorstore: Any  # langchain_community FAISS
    plans: dict[str, dict]  # rule id -> its compiled check plan (assistant.plans.Plan.to_dict), when compiled

    @functools.cached_property
    def by_id(self) -> dict[str, Chunk]:
        """Chunk id -> chunk."""
        return {c.id: c for c in self.chunks}


@functools.cache
def _langchain() -> tuple[Any, Any, Any, Any]:
    """langchain's FAISS, InMemoryDocstore, Document and DistanceStrategy (the sunset warning silenced)."""
    hint = "pip install langchain-community faiss-cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # langchain-community announces its sunset on import
        vectorstores = require("langchain_community.vectorstores.faiss", hint)
        docstore = require("langchain_community.docstore.in_memory", hint)
    return (vectorstores.FAISS, docstore.InMemoryDocstore, require("langchain_core.documents").Document,
            vectorstores.DistanceStrategy)


class KnowledgeBase:
    """The guideline store of one organisation: build it from files, list, search and delete documents."""

    def __init__(self, org: str, embedder: Embedder, root: str | os.PathLike | None = None) -> None:
        self.org = validate_org(org)
        self.embedder = embedder
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.folder = self.root / self.org
        self.versions = VersionFolder(self.folder, self.org)
        self._loaded: _Loaded | None = None

    # ----- reading -----
    def documents(self) -> list[DocumentInfo]:
        """The stored documents, by file name."""
        loaded = self._load()
        rows = []
        for name in sorted(loaded.documents):
            entry = loaded.documents[name]
            rules = dict.fromkeys(r for i in entry["chunk_ids"] if (r := loaded.by_id[i].rule_id))
            rows.append(DocumentInfo(name, entry["sha256"], entry["kind"], entry["chars"], len(entry["chunk_ids"]),
                                     tuple(rules)))
        return rows

    def chunks(self) -> list[Chunk]:
        """Every chunk, in index order."""
        return list(self._load().chunks)

    def rules(self) -> dict[str, list[Chunk]]:
        """Rule id -> its chunk(s) (several when a long rule was split or two documents share an id)."""
        out: dict[str, list[Chunk]] = {}
        for chunk in self._load().chunks:
            if chunk.rule_id:
                out.setdefault(chunk.rule_id, []).append(chunk)
        return out

    def rule_texts(self) -> dict[str, tuple[str, str]]:
        """Rule id -> (heading, text): what a rule's check plan is compiled from (its chunks' text, joined)."""
        return {rule_id: (chunks[0].heading.split(" > ")[-1], "\n\n".join(c.text for c in chunks))
                for rule_id, chunks in self.rules().items()}

    def plans(self) -> dict[str, dict]:
        """Rule id -> its check plan: the manager's override where there is one, else the one compiled when the
        rule was stored (rules stored before any compilation have none)."""
        plans = dict(self._load().plans)
        for rule_id, override in self.overrides().items():
            plans[rule_id] = override["plan"]
        return plans

    def overrides(self) -> dict[str, dict]:
        """Rule id -> {"plan": ..., "spec": ..., "saved": ...}: the manager's corrections, kept across rebuilds."""
        path = self.folder / OVERRIDES
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not all(isinstance(v, dict) and "plan" in v for v in data.values()):
                raise ValueError("not a mapping of rule ids to overrides")
        except (OSError, ValueError) as exc:
            raise IndexCorrupt(f"{path} cannot be read ({exc}); fix or delete it to drop the overrides "
                               f"of {self.org!r}.") from exc
        return data

    def set_override(self, rule_id: str, override: dict | None) -> None:
        """Store the manager's override of ``rule_id``'s plan (``{"plan": ..., "spec": ...}``); None removes it."""
        if rule_id not in self.rules():
            known = ", ".join(self.rules()) or "none"
            raise DocumentNotFound(f"No rule {rule_id!r} in {self.org!r} (rules: {known}).")
        with self.versions.lock():
            data = self.overrides()
            if override is None:
                data.pop(rule_id, None)
            else:
                data[rule_id] = {**override, "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            tmp = self.folder / f".{OVERRIDES}.tmp"
            tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self.folder / OVERRIDES)

    def compile_rules(self, compile_one: Compile, key: RuleKey, progress: ProgressFn | None = None,
                      force: bool = False) -> tuple[int, int]:
        """Compile the check plan of every rule that has none for its current text (all with ``force``) and store
        the plans in a new version; returns (compiled, reused). Unchanged rules cost nothing. ``compile_one`` may
        return None: the rule is then left without a plan (to be compiled by a later call)."""
        with self.versions.lock():
            loaded = self._load()
            texts = self.rule_texts()
            todo = [r for r, (heading, text) in texts.items()
                    if force or loaded.plans.get(r, {}).get("key") != key(heading, text)]
            plans = {r: p for r, p in loaded.plans.items() if r in texts}
            if progress and todo:
                progress(0, len(todo))
            for done, rule_id in enumerate(todo, start=1):
                plan = compile_one(rule_id, *texts[rule_id])
                if plan is None:
                    plans.pop(rule_id, None)
                else:
                    plans[rule_id] = plan
                if progress:
                    progress(done, len(todo))
            if todo or plans.keys() != loaded.plans.keys():
                manifest = {**self.versions.read_manifest(loaded.version), "plans": plans}
                version = self.versions.write(manifest, loaded.vectorstore.index)
                self._loaded = _Loaded(version, loaded.documents, loaded.chunks, loaded.vectorstore, plans)
                self.versions.prune(keep=version)
        return len(todo), len(texts) - len(todo)

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """The ``k`` chunks closest to ``query`` by cosine similarity, best first."""
        if not query or not query.strip():
            raise InvalidQuery("The search query is empty.")
        if k < 1:
            raise InvalidQuery(f"k must be at least 1, got {k}.")
        loaded = self._load()
        if not loaded.chunks:
            raise IndexNotBuilt(f"The knowledge base of {self.org!r} holds no documents; "
                                + BUILD_HINT.format(org=self.org))
        results = loaded.vectorstore.similarity_search_with_score(query, k=min(k, len(loaded.chunks)))
        return [Hit(loaded.by_id[doc.id], float(score)) for doc, score in results]

    # ----- writing -----
    def build(self, paths: Iterable[str | os.PathLike], progress: ProgressFn | None = None,
              rebuild: bool = False) -> BuildReport:
        """Add or update the documents at ``paths`` (files or folders); ``rebuild`` starts over from them alone.

        Unchanged files (same name and sha256) are not re-read or re-embedded, nor are chunks whose text is
        already stored; when nothing changed nothing is written. ``rebuild`` re-embeds everything, drops the
        documents not given, and works even when the stored index is corrupt or from another embedder.
        ``progress(done, total)`` is called before the first embedding batch and after each one.
        """
        start = time.perf_counter()
        sources = [read_source(p) for p in collect_paths(paths)]
        if not sources:
            raise DocumentError("No documents given: pass Markdown, text or PDF files, or folders holding them.")
        with self.versions.lock():
            current = self.versions.current_or_none() if rebuild else self.versions.current()
            old = None if rebuild or current is None else self._load()
            self.versions.prune(keep=current)  # folders left by a crashed build
            if rebuild:
                before = self.versions.stored_hashes()
            else:
                before = {name: entry["sha256"] for name, entry in (old.documents if old else {}).items()}
            documents, chunks, counts = self._plan(sources, old, before, rebuild)
            if not (rebuild or counts["added"] or counts["updated"]):
                return BuildReport(self.org, **counts, removed=0, chunks=len(old.chunks) if old else 0, embedded=0,
                                   seconds=time.perf_counter() - start, version=None)
            embedded = self._commit(documents, chunks, old, progress)
        removed = len(set(before) - set(documents))
        return BuildReport(self.org, **counts, removed=removed, chunks=len(self._loaded.chunks), embedded=embedded,
                           seconds=time.perf_counter() - start, version=self._loaded.version)

    @staticmethod
    def _plan(sources: list[SourceFile], old: _Loaded | None, before: dict[str, str],
              rebuild: bool) -> tuple[dict[str, dict], dict[str, list[Chunk]], dict[str, int]]:
        """Documents and chunks after the build (unchanged files kept as stored), and per-file counts."""
        documents = dict(old.documents) if old else {}
        chunks = {name: [old.by_id[i] for i in entry["chunk_ids"]] for name, entry in documents.items()}
        counts = {"added": 0, "updated": 0, "unchanged": 0}
        for src in sources:
            status = "added" if src.name not in before else "updated" if before[src.name] != src.sha256 else "unchanged"
            counts[status] += 1
            if status == "unchanged" and not rebuild:
                continue  # not even re-read: its chunks and vectors are reused as stored
            text = extract_text(src)
            chunks[src.name] = chunk_document(src.name, src.kind, text)
            documents[src.name] = {"sha256": src.sha256, "kind": src.kind, "chars": len(text),
                                   "chunk_ids": [c.id for c in chunks[src.name]]}
        return documents, chunks, counts

    def delete(self, source_name: str) -> BuildReport:
        """Remove the document stored under the file name ``source_name`` (no re-embedding)."""
        start = time.perf_counter()
        with self.versions.lock():
            old = self._load()
            if source_name not in old.documents:
                stored = ", ".join(sorted(old.documents)) or "none"
                raise DocumentNotFound(f"No document named {source_name!r} in {self.org!r} (stored: {stored}).")
            documents = {n: e for n, e in old.documents.items() if n != source_name}
            chunks = {n: [old.by_id[i] for i in e["chunk_ids"]] for n, e in documents.items()}
            self._commit(documents, chunks, old, None)
        return BuildReport(self.org, 0, 0, 0, 1, len(self._loaded.chunks), 0, time.perf_counter() - start,
                           self._loaded.version)

    def _commit(self, documents: dict[str, dict], chunks: dict[str, list[Chunk]], old: _Loaded | None,
                progress: ProgressFn | None) -> int:
        """Embed what is new, write a complete version and switch to it; returns how many chunks were embedded."""
        ordered = [c for name in sorted(documents) for c in chunks[name]]
        vectors: dict[str, np.ndarray] = {}
        if old is not None and old.chunks:
            stored = old.vectorstore.index.reconstruct_n(0, len(old.chunks))
            vectors = {c.id: stored[i] for i, c in enumerate(old.chunks)}
        fresh = list({c.id: c for c in ordered if c.id not in vectors}.values())
        vectors.update(zip((c.id for c in fresh), self._embed(fresh, progress)))
        vs = self._vectorstore(require("faiss", "pip install faiss-cpu").IndexFlatIP(self.embedder.dim), [])
        if ordered:  # indexing goes through langchain, which adds to the faiss index and its docstore together
            vs.add_embeddings([(c.embedding_text, vectors[c.id]) for c in ordered],
                              metadatas=[_metadata(c) for c in ordered], ids=[c.id for c in ordered])
        rule_ids = {c.rule_id for c in ordered if c.rule_id}
        plans = {r: p for r, p in (old.plans if old else {}).items() if r in rule_ids}  # stale ones recompile by key
        manifest = {"format_version": FORMAT_VERSION, "org": self.org,
                    "embedder": {"name": self.embedder.name, "dim": self.embedder.dim},
                    "chunking": {"max_chars": MAX_CHARS}, "documents": {n: documents[n] for n in sorted(documents)},
                    "chunks": [c.to_dict() for c in ordered], "plans": plans}
        version = self.versions.write(manifest, vs.index)
        self._loaded = _Loaded(version, manifest["documents"], ordered, vs, plans)
        self.versions.prune(keep=version)
        return len(fresh)

    def _embed(self, chunks: list[Chunk], progress: ProgressFn | None) -> np.ndarray:
        """Embed in batches, checking the embedder keeps its contract (shape, unit norm)."""
        dim, texts = self.embedder.dim, [c.embedding_text for c in chunks]
        out = np.zeros((len(texts), dim), dtype=np.float32)
        if progress and texts:
            progress(0, len(texts))
        for i in range(0, len(texts), EMBED_BATCH):
            batch_texts = texts[i : i + EMBED_BATCH]
            batch = np.asarray(self.embedder.embed(batch_texts), dtype=np.float32)
            if batch.shape != (len(batch_texts), dim):
                raise ModelUnavailable(f"The embedder {self.embedder.name!r} returned shape {batch.shape}, "
                                       f"expected ({len(batch_texts)}, {dim}).")
            norms = np.linalg.norm(batch, axis=1)
            if np.any((np.abs(norms - 1) > 1e-3) & (norms > 0)):
                raise ModelUnavailable(f"The embedder {self.embedder.name!r} returned vectors that are not "
                                       "L2-normalised.")
            out[i : i + len(batch)] = batch
            if progress:
                progress(i + len(batch), len(texts))
        return out

    # ----- disk -----
    def _load(self) -> _Loaded:
        """The live version (cached while CURRENT points to it)."""
        for attempt in range(2):
            name = self.versions.current()
            if name is None:
                raise IndexNotBuilt(f"No knowledge base for {self.org!r} in {self.root}; "
                                    + BUILD_HINT.format(org=self.org))
            if self._loaded is not None and self._loaded.version == name:
                return self._loaded
            try:
                self._loaded = self._read_version(name)
                return self._loaded
            except IndexCorrupt:
                if attempt == 0 and self.versions.current() != name:
                    continue  # a concurrent build switched versions while we read: read the new one
                raise
        raise AssertionError("unreachable")

    def _read_version(self, name: str) -> _Loaded:
        """Load version ``name``, checking the manifest, the embedder and the index agree."""
        manifest = self.versions.read_manifest(name)
        try:
            if manifest["org"] != self.org:
                raise self.versions.corrupt(f"its manifest belongs to organisation {manifest['org']!r}")
            built_name, built_dim = manifest["embedder"]["name"], int(manifest["embedder"]["dim"])
            documents = manifest["documents"]
            chunks = [Chunk.from_dict(row) for row in manifest["chunks"]]
            plans = dict(manifest.get("plans") or {})  # versions written before plans existed have none
            listed = sorted(i for e in documents.values() for i in e["chunk_ids"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            what = f"manifest.json lacks a field or has a wrong one ({type(exc).__name__}: {exc})"
            raise self.versions.corrupt(what) from exc
        if listed != sorted(c.id for c in chunks):
            raise self.versions.corrupt("the manifest's documents and chunks disagree")
        if (built_name, built_dim) != (self.embedder.name, self.embedder.dim):
            raise IndexMismatch(
                f"The knowledge base of {self.org!r} was built with the embedder {built_name!r} ({built_dim}-dim), "
                f"but the configured one is {self.embedder.name!r} ({self.embedder.dim}-dim); "
                + REBUILD_HINT.format(org=self.org))
        index = self.versions.read_index(name)
        faiss = require("faiss", "pip install faiss-cpu")
        if index.d != built_dim or index.metric_type != faiss.METRIC_INNER_PRODUCT or index.ntotal != len(chunks):
            raise self.versions.corrupt(f"index.faiss holds {index.ntotal} vectors of dim {index.d}, "
                                        f"the manifest lists {len(chunks)} chunks of dim {built_dim}")
        return _Loaded(name, documents, chunks, self._vectorstore(index, chunks), plans)

    def _vectorstore(self, index: Any, chunks: list[Chunk]) -> Any:
        """langchain's FAISS over ``index`` (row i = ``chunks[i]``), scoring by inner product."""
        FAISS, Docstore, Document, strategy = _langchain()
        docstore = Docstore({c.id: Document(id=c.id, page_content=c.embedding_text, metadata=_metadata(c))
                             for c in chunks})
        return FAISS(langchain_embeddings(self.embedder), index, docstore, {i: c.id for i, c in enumerate(chunks)},
                     distance_strategy=strategy.MAX_INNER_PRODUCT)


def _metadata(chunk: Chunk) -> dict[str, str | None]:
    return {"source": chunk.source, "heading": chunk.heading, "rule_id": chunk.rule_id}


def open_knowledge_base(org: str, root: str | Path | None = None) -> KnowledgeBase:
    """The organisation's knowledge base with the configured embedder (its reads raise IndexNotBuilt if it has none)."""
    from knowledge_base.embedder import make_embedder

    return KnowledgeBase(org, make_embedder(), root=root)
