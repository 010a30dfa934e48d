"""The Embedder seam: the fake honours the protocol, the langchain adapter wraps any embedder, MiniLM loads lazily."""

from __future__ import annotations

import numpy as np
import pytest

from knowledge_base import embedder as embedders
from knowledge_base.embedder import DEFAULT_NAME, Embedder, SentenceTransformerEmbedder, langchain_embeddings


def test_fake_embedder_follows_the_protocol(fake_embedder):
    assert isinstance(fake_embedder, Embedder)
    vectors = fake_embedder.embed(["Never ask for passwords", "Thank the customer", "!!!"])
    assert vectors.shape == (3, 64) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0)
    assert np.array_equal(fake_embedder.embed(["Never ask for passwords"])[0], vectors[0])


def test_langchain_adapter_wraps_any_embedder(fake_embedder):
    from langchain_core.embeddings import Embeddings

    adapter = langchain_embeddings(fake_embedder)
    assert isinstance(adapter, Embeddings)
    docs = adapter.embed_documents(["a b", "c"])
    assert isinstance(docs, list) and len(docs) == 2 and isinstance(docs[0][0], float)
    assert np.allclose(adapter.embed_query("a b"), docs[0])
    assert fake_embedder.calls == [["a b", "c"], ["a b"]]


def test_sentence_transformer_embedder_is_lazy_and_names_itself():
    default = SentenceTransformerEmbedder()
    assert (default.name, default.dim, default._model) == (DEFAULT_NAME, 384, None)  # dim known without loading
    custom = SentenceTransformerEmbedder("/models/my-encoder")
    assert custom.name == "/models/my-encoder" and custom._model is None


def test_make_embedder_reads_the_environment(monkeypatch):
    monkeypatch.delenv(embedders.EMBEDDER_ENV, raising=False)
    assert embedders.make_embedder().name == DEFAULT_NAME
    monkeypatch.setenv(embedders.EMBEDDER_ENV, "/models/other")
    assert embedders.make_embedder().name == "/models/other"


def test_queries_run_on_one_torch_thread_and_batches_on_torch_setting():
    torch = pytest.importorskip("torch")
    seen = []

    class RecordingModel:
        def encode(self, texts, **kwargs):
            seen.append((len(texts), torch.get_num_threads()))
            return np.ones((len(texts), 384), dtype=np.float32) / np.sqrt(384)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        minilm = SentenceTransformerEmbedder()
        minilm._model = RecordingModel()  # no weights loaded
        minilm.embed(["one query"])
        minilm.embed(["a chunk"] * 40)
        assert seen == [(1, 1), (40, 2)] and torch.get_num_threads() == 2  # restored after the query
        pinned = SentenceTransformerEmbedder(threads=2)
        pinned._model = RecordingModel()
        pinned.embed(["one query"])
        assert seen[-1] == (1, 2)
    finally:
        torch.set_num_threads(before)
