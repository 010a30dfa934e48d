"""Wiring for audits: the organisation's knowledge base as the retriever, and the audit's own generator.

Audits run on ``audit_model`` (the larger embedded model by default) without the summary adapter: the TweetSumm
LoRA was trained to write summaries, not to judge guidelines.
"""

from __future__ import annotations

from dataclasses import replace

from assistant.audit import Auditor, Passage
from assistant.config import AssistantConfig


class KnowledgeBaseRetriever:
    """``assistant.audit.Retriever`` over a ``knowledge_base.store.KnowledgeBase``."""

    def __init__(self, kb) -> None:  # noqa: ANN001 - knowledge_base.store.KnowledgeBase
        self.kb = kb

    def retrieve(self, query: str, k: int) -> list[Passage]:
        """The ``k`` chunks closest to ``query`` as passages."""
        return [Passage(h.chunk.id, h.chunk.source, h.chunk.heading, h.chunk.rule_id, h.chunk.text, round(h.score, 4))
                for h in self.kb.search(query, k=k)]

    def rule_ids(self) -> list[str]:
        """Every rule id the organisation's guidelines define."""
        return list(self.kb.rules())


def open_knowledge_base(org: str, root: str | None = None):  # noqa: ANN201 - KnowledgeBase
    """The organisation's knowledge base with the configured embedder (raises IndexNotBuilt if it has none)."""
    from knowledge_base.embedder import make_embedder
    from knowledge_base.store import KnowledgeBase

    return KnowledgeBase(org, make_embedder(), root=root)


def audit_config(config: AssistantConfig | None = None) -> AssistantConfig:
    """The summary config turned into the audit's: ``audit_model``, same backend, no adapter."""
    config = config or AssistantConfig()
    return replace(config, model=config.audit_model, adapter="none")


def build_auditor(kb, config: AssistantConfig | None = None, generator=None) -> Auditor:  # noqa: ANN001
    """An Auditor over ``kb`` with ``config``'s audit settings (``audit_*``); loads the audit generator
    (``audit_model``) unless one is given."""
    config = config or AssistantConfig()
    if generator is None:
        from assistant.backends import load_generator

        generator = load_generator(audit_config(config))
    return Auditor(generator, KnowledgeBaseRetriever(kb), config.audit)
