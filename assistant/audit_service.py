"""Wiring for audits: the organisation's knowledge base as the retriever, and the audit's own generator.

Audits run on ``audit_model`` (the larger embedded model by default) without the summary adapter: the TweetSumm
LoRA was trained to write summaries, not to judge guidelines. ``audit_adapter`` may give the judge its own adapter
(``auto``: the shipped trained judge of the audit model, ``models.SHIPPED_JUDGES``, if any; else none).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from assistant.audit import Auditor, Passage
from assistant.clauses import Check
from assistant.config import AssistantConfig
from assistant.conversation import Conversation
from assistant.plans import ModelCompiler, Plan, from_clauses, rule_key
from assistant.prompts import check_messages, default_format, render_prompt


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

    def rules(self) -> dict[str, list[Passage]]:
        """Every rule's passages, in playbook order."""
        return {rule_id: [Passage(c.id, c.source, c.heading, c.rule_id, c.text, 0.0) for c in chunks]
                for rule_id, chunks in self.kb.rules().items()}

    def similarity(self, queries: list[str], texts: list[str]) -> list[list[float]]:
        """Cosine similarity of each query to each text, with the knowledge base's embedder."""
        import numpy as np

        q, t = (np.asarray(self.kb.embedder.embed(x), dtype=np.float32) for x in (queries, texts))
        return (q @ t.T).tolist()

    def plans(self) -> dict[str, Plan]:
        """The check plans stored with the rules (compiled at ingestion, or the manager's overrides)."""
        return {rule_id: Plan.from_dict(data) for rule_id, data in self.kb.plans().items()}


def open_knowledge_base(org: str, root: str | None = None):  # noqa: ANN201 - KnowledgeBase
    """The organisation's knowledge base with the configured embedder (raises IndexNotBuilt if it has none)."""
    from knowledge_base.embedder import make_embedder
    from knowledge_base.store import KnowledgeBase

    return KnowledgeBase(org, make_embedder(), root=root)


def audit_config(config: AssistantConfig | None = None) -> AssistantConfig:
    """The summary config turned into the audit's: ``audit_model``, same backend, and as ``adapter`` the judge's
    (``audit_adapter`` resolved, ``auto`` against the shipped judges only) or ``none``: never the summary adapter.
    Raises ModelUnavailable when the judge adapter asked for is missing."""
    config = config or AssistantConfig()
    return replace(config, model=config.audit_model, adapter=config.audit_adapter_path() or "none")


def _audit_generator(config: AssistantConfig, generator):  # noqa: ANN001, ANN202 - Generator
    if generator is None:
        from assistant.backends import load_generator

        generator = load_generator(audit_config(config))
    return generator


def make_compiler(generator, config: AssistantConfig | None = None) -> ModelCompiler:  # noqa: ANN001
    """The rule compiler over ``generator`` (the audit model): it writes each prose rule's spec under a JSON schema,
    and the same model, as the judge, checks that the spec's question separates its own examples."""
    from assistant.judge import make_scorer

    config = config or AssistantConfig()
    fmt = default_format(generator.model_name, generator.chat_template is not None)

    def render(messages: list[dict[str, str]]) -> str:
        return render_prompt(messages, fmt, template=generator.chat_template, **generator.special_tokens)

    scorer = make_scorer(generator, config.audit_scorer)

    def judge(conv: Conversation, rule_text: str, check: Check) -> float:
        p = scorer.p_yes(render(check_messages(conv, rule_text, check.statement, len(conv.turns) - 1)))
        return 0.5 if p is None else p

    return ModelCompiler(generator, render, judge)


def stale_rules(kb) -> list[str]:  # noqa: ANN001 - KnowledgeBase
    """Rules of ``kb`` with no plan stored for their current text (an override counts as a plan)."""
    stored = kb.plans()
    return [r for r, (heading, text) in kb.rule_texts().items()
            if r not in stored or (stored[r].get("origin") != "override" and stored[r].get("key") != rule_key(heading, text))]


def compile_knowledge_base(kb, config: AssistantConfig | None = None, generator=None,  # noqa: ANN001
                           progress: Callable[[int, int], None] | None = None, force: bool = False) -> tuple[int, int]:
    """Compile the check plan of every rule of ``kb`` not compiled for its current text (see
    ``KnowledgeBase.compile_rules``); loads the audit model only when a rule needs it. Returns (compiled, reused)."""
    config = config or AssistantConfig()
    if not force and not stale_rules(kb):
        return 0, len(kb.rule_texts())
    compilers: list[ModelCompiler] = []

    def compile_one(rule_id: str, heading: str, text: str) -> dict:
        plan = from_clauses(rule_id, heading, text)  # a rule with clauses needs no model
        if plan is None:
            if not compilers:
                compilers.append(make_compiler(_audit_generator(config, generator), config))
            plan = compilers[0](rule_id, heading, text)
        return plan.to_dict()

    return kb.compile_rules(compile_one, rule_key, progress, force)


def build_auditor(kb, config: AssistantConfig | None = None, generator=None) -> Auditor:  # noqa: ANN001
    """An Auditor over ``kb`` with ``config``'s audit settings (``audit_*``); loads the audit generator
    (``audit_model``) unless one is given. A rule stored without a plan for its text is compiled when first
    judged (and kept in memory): build the knowledge base again to store it."""
    config = config or AssistantConfig()
    generator = _audit_generator(config, generator)
    return Auditor(generator, KnowledgeBaseRetriever(kb), config.audit, compiler=make_compiler(generator, config))
