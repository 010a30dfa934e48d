"""Wiring for audits: the organisation's knowledge base as the retriever, and the audit's judge.

Checks are answered by ``audit_model`` (``audit_judge: model``, the default: the larger embedded language model)
without the summary adapter (the TweetSumm LoRA was trained to write summaries, not to judge guidelines), or by a
trained judge (``audit_judge: trained`` is the shipped cross-encoder, ``assistant.encoder_judge``).
``audit_adapter`` may give that language model a judge adapter of its own. Prose rules are compiled into check plans
by ``compile_model`` (a writing model), validated by whichever judge will apply them.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Callable

from assistant.audit import Auditor, Passage
from assistant.clauses import Check
from assistant.config import AssistantConfig
from assistant.conversation import Conversation
from assistant.encoder_judge import EncoderJudge
from assistant.errors import ModelUnavailable
from assistant.plans import ModelCompiler, Plan, from_clauses, rule_key
from assistant.prompts import check_messages, renderer_for


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


def audit_config(config: AssistantConfig | None = None) -> AssistantConfig:
    """The summary config turned into the audit's: ``audit_model``, same backend, and as ``adapter`` the judge's
    (``audit_adapter`` resolved, ``auto`` against the shipped judges only) or ``none``: never the summary adapter.
    Raises ModelUnavailable when the judge adapter asked for is missing."""
    config = config or AssistantConfig()
    return replace(config, model=config.audit_model, adapter=config.audit_adapter_path() or "none")


_JUDGES: dict[str, EncoderJudge] = {}
_JUDGES_LOCK = threading.Lock()


def load_judge(config: AssistantConfig | None = None) -> EncoderJudge | None:
    """The trained judge ``config.audit_judge`` names (loaded once per process), or None when the language model
    ``audit_model`` answers the checks (``audit_judge: model``)."""
    config = config or AssistantConfig()
    folder = config.audit_judge_path()
    if folder is None:
        return None
    key = str(folder.resolve())
    with _JUDGES_LOCK:
        if key not in _JUDGES:
            _JUDGES[key] = EncoderJudge(folder, threads=config.n_threads)
        return _JUDGES[key]


def _audit_generator(config: AssistantConfig, generator):  # noqa: ANN001, ANN202 - Generator
    if generator is None:
        from assistant.backends import load_generator

        generator = load_generator(audit_config(config))
    return generator


def writer_config(config: AssistantConfig | None = None) -> AssistantConfig:
    """The config of the model that writes (``compile_model``, same backend, no adapter): it compiles prose rules
    into plans and answers follow-up questions; a judge adapter only answers yes or no."""
    config = config or AssistantConfig()
    return replace(config, model=config.compile_model, adapter="none")


def writer_is_judge(config: AssistantConfig) -> bool:
    """Whether the writer and the language-model judge are one model: ``compile_model`` is ``audit_model`` and that
    judge has no adapter (a judge whose adapter is missing is not: that is the audit's error, never the writer's).
    The app then loads it once, for writing and ``audit_judge: model`` audits alike."""
    try:
        return audit_config(config) == writer_config(config)
    except ModelUnavailable:
        return False


def load_writer(config: AssistantConfig | None = None, judge=None):  # noqa: ANN001, ANN201 - Generator
    """The writing generator: ``judge`` itself when the judge is that same model without an adapter, else loaded."""
    config = config or AssistantConfig()
    if judge is not None and not isinstance(judge, EncoderJudge) and writer_is_judge(config):
        return judge
    from assistant.backends import load_generator

    return load_generator(writer_config(config))


def make_compiler(generator, config: AssistantConfig | None = None, judge=None) -> ModelCompiler:  # noqa: ANN001
    """The rule compiler: ``generator`` (the writer, ``compile_model``) writes each prose rule's spec under a JSON
    schema, and ``judge`` (the audit's judge; ``generator`` when none is given) checks that the spec's question
    separates the spec's own examples: a plan is kept only if the judge that will apply it can."""
    from assistant.judge import make_scorer

    config = config or AssistantConfig()
    judge = judge or generator
    if isinstance(judge, EncoderJudge):
        def check(conv: Conversation, rule_text: str, c: Check) -> float:
            return judge.p_yes(conv, rule_text, c.statement, len(conv.turns) - 1)

        return ModelCompiler(generator, renderer_for(generator), check)
    render_check = renderer_for(judge)
    scorer = make_scorer(judge, config.audit_scorer)

    def ask(conv: Conversation, rule_text: str, c: Check) -> float:
        p = scorer.p_yes(render_check(check_messages(conv, rule_text, c.statement, len(conv.turns) - 1)))
        return 0.5 if p is None else p

    return ModelCompiler(generator, renderer_for(generator), ask)


class LazyCompiler:
    """A ``make_compiler`` compiler whose writer is loaded on the first rule that needs it (an audit whose plans are
    all stored never loads it)."""

    def __init__(self, config: AssistantConfig, judge, writer=None) -> None:  # noqa: ANN001
        # writer: a generator, a function that returns one (loaded on first use), or None for compile_model
        self.config, self.judge, self.writer = config, judge, writer
        self._compiler: ModelCompiler | None = None

    def __call__(self, rule_id: str | None, heading: str, text: str) -> Plan:
        """The rule's plan (see ``ModelCompiler``); a rule with clauses loads no model."""
        plan = from_clauses(rule_id, heading, text)
        if plan is not None:
            return plan
        if self._compiler is None:
            writer = self.writer() if callable(self.writer) else self.writer
            self._compiler = make_compiler(writer or load_writer(self.config, self.judge), self.config, self.judge)
        return self._compiler(rule_id, heading, text)


def stale_rules(kb) -> list[str]:  # noqa: ANN001 - KnowledgeBase
    """Rules of ``kb`` with no plan stored for their current text (an override counts as a plan)."""
    stored = kb.plans()
    return [r for r, (heading, text) in kb.rule_texts().items()
            if r not in stored or (stored[r].get("origin") != "override" and stored[r].get("key") != rule_key(heading, text))]


def compile_knowledge_base(kb, config: AssistantConfig | None = None, generator=None,  # noqa: ANN001
                           progress: Callable[[int, int], None] | None = None, force: bool = False,
                           writer=None) -> tuple[int, int]:  # noqa: ANN001
    """Compile the check plan of every rule of ``kb`` not compiled for its current text (see
    ``KnowledgeBase.compile_rules``). ``generator`` is the judge (loaded from ``audit_model`` if not given), ``writer``
    the model that writes specs (a generator or a function returning one; by default ``compile_model``, which is the
    judge itself only when that is the same model without adapter: a judge adapter never writes); neither is loaded
    unless a rule needs it. Returns (compiled, reused)."""
    config = config or AssistantConfig()
    if not force and not stale_rules(kb):
        return 0, len(kb.rule_texts())
    compilers: list[LazyCompiler] = []

    def compile_one(rule_id: str, heading: str, text: str) -> dict:
        plan = from_clauses(rule_id, heading, text)  # a rule with clauses needs no model
        if plan is None:
            if not compilers:
                compilers.append(LazyCompiler(config, load_judge(config) or _audit_generator(config, generator), writer))
            plan = compilers[0](rule_id, heading, text)
        return plan.to_dict()

    return kb.compile_rules(compile_one, rule_key, progress, force)


def build_auditor(kb, config: AssistantConfig | None = None, generator=None, writer=None) -> Auditor:  # noqa: ANN001
    """An Auditor over ``kb`` with ``config``'s audit settings (``audit_*``) and judge: the trained one
    (``audit_judge``), else the language model ``generator`` (loaded from ``audit_model`` with ``audit_adapter``
    unless given). A rule stored without a plan for its text is compiled when first judged (by ``writer``, a
    generator or a function returning one, else by ``compile_model``, loaded then: the language-model judge itself
    only when that is the same model without adapter) and kept in memory: build the knowledge base again to store
    it."""
    config = config or AssistantConfig()
    judge = load_judge(config)
    if judge is not None:
        return Auditor(None, KnowledgeBaseRetriever(kb), config.audit, compiler=LazyCompiler(config, judge, writer),
                       judge=judge)
    generator = _audit_generator(config, generator)
    compiler = LazyCompiler(config, generator, writer)
    return Auditor(generator, KnowledgeBaseRetriever(kb), config.audit, compiler=compiler)
