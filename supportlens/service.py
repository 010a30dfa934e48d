"""What the app calls: one shared, lazily loaded summarizer per process, and example conversations.

The app (``app.py``) only wires widgets to these functions; errors stay domain errors here and are
turned into readable messages at the UI edge.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

from assistant.config import AssistantConfig
from assistant.conversation import Conversation
from assistant.summarize import Parts, Summarizer

EXAMPLES_DIR = Path(__file__).parent / "examples"


@dataclass(frozen=True)
class Example:
    """A clickable example conversation for the app."""

    title: str
    text: str


class SummaryService:
    """Loads the model once (on first use, or eagerly with ``load``) and serialises generation.

    llama.cpp contexts are not thread-safe, so concurrent requests queue on one lock; Gradio's queue
    in front of it keeps the UI responsive.
    """

    def __init__(self, config: AssistantConfig, factory: Callable[[AssistantConfig], object] | None = None) -> None:
        self.config = config
        self._factory = factory
        self._summarizer: Summarizer | None = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    def load(self) -> Summarizer:
        """The shared Summarizer, built on first call (raises ModelUnavailable with a fix if it cannot be)."""
        with self._load_lock:
            if self._summarizer is None:
                if self._factory is None:
                    from assistant.backends import load_generator

                    generator = load_generator(self.config)
                else:
                    generator = self._factory(self.config)
                self._summarizer = Summarizer(generator, self.config)  # type: ignore[arg-type]
            return self._summarizer

    @property
    def model_label(self) -> str:
        """``model (backend)`` of the loaded model, or the configured one before loading."""
        if self._summarizer is None:
            return f"{self.config.model} ({self.config.backend})"
        gen = self._summarizer.generator
        return f"{gen.model_name} ({gen.backend})"

    def stream_summary(self, text: str | Conversation,
                       progress: Callable[[int, int], None] | None = None) -> Iterator[str]:
        """Yield the growing summary text; the last value is the post-processed summary.

        A conversation too long for one prompt is summarized in parts: first "Summarizing part 2 of 5…" while the
        parts are summarized (``progress(done, total)`` after each part), then the final summary as it grows.
        Raises InvalidConversation before any model work for bad input, GenerationFailed for an empty result.
        """
        summarizer = self.load()
        prepared = summarizer.prepare(text)
        with self._run_lock:
            start = time.perf_counter()
            if isinstance(prepared, Parts):
                total = len(prepared.parts)
                summaries: list[str] = []
                yield f"Summarizing part 1 of {total}…"
                for summary in summarizer.part_summaries(prepared):
                    summaries.append(summary)
                    if progress:
                        progress(len(summaries), total)
                    done = len(summaries)
                    yield f"Summarizing part {done + 1} of {total}…" if done < total else \
                        f"Writing the summary from the {total} part summaries…"
                prepared = summarizer.combine(prepared, summaries)
            prefix = prepared.prompt.response_prefix
            raw = ""
            for piece in summarizer.stream(prepared):
                raw += piece
                if len(raw) > len(prefix):  # the response prefix alone is not a summary yet
                    yield raw.lstrip()
        yield summarizer.finish(raw, prepared, 0.0, time.perf_counter() - start).text


def example_conversations(tweetsumm_dir: str | Path | None = None, n_tweetsumm: int = 3) -> list[Example]:
    """Our own fictional examples, then the first TweetSumm test dialogs when the data folder is present."""
    examples = [Example(p.stem.replace("_", " "), p.read_text(encoding="utf-8").strip())
                for p in sorted(EXAMPLES_DIR.glob("*.txt"))]
    try:
        from training.tweetsumm import load_split

        for conv in load_split("test", tweetsumm_dir, limit=n_tweetsumm):
            examples.append(Example(f"TweetSumm test {conv.conversation_id[:8]}", conv.to_text()))
    except (FileNotFoundError, ValueError):
        pass  # the data folder is optional for the app
    return examples


class AuditService:
    """Audits for the app: one shared audit generator (loaded on first use), a knowledge base per organisation.

    ``review`` is the summary-plus-audit call: the summary first (from ``summaries``), then the findings.
    """

    def __init__(self, config: AssistantConfig, summaries: SummaryService | None = None, kb_root: str | None = None,
                 factory: Callable[[AssistantConfig], object] | None = None, embedder_factory: Callable[[], object] | None = None) -> None:
        self.config = config
        self.summaries = summaries
        self.kb_root = kb_root
        self._factory = factory
        self._embedder_factory = embedder_factory
        self._generator = None
        self._writer = None
        self._embedder = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    def _load(self, config: AssistantConfig):  # noqa: ANN202 - Generator
        if self._factory is None:
            from assistant.backends import load_generator

            return load_generator(config)
        return self._factory(config)

    def generator(self):  # noqa: ANN201 - Generator
        """The shared audit judge (audit_model with the judge adapter, ``audit_adapter``, if any; never the
        summary adapter), loaded on first use."""
        with self._load_lock:
            if self._generator is None:
                from assistant.audit_service import audit_config

                self._generator = self._load(audit_config(self.config))
            return self._generator

    def model_judge(self, config: AssistantConfig | None = None):  # noqa: ANN201 - Generator | None
        """The language-model judge when audits use one (``audit_judge: model``), else None: the trained judge
        needs no language model to audit."""
        return None if (config or self.config).audit_judge_path() is not None else self.generator()

    def judged_by(self, judge: str | None) -> AssistantConfig:
        """The settings of an audit judged by ``judge`` (``audit_judge``: model, trained or a judge folder; None:
        the configured one). The other audit settings stay; biases left to the judge follow it."""
        if judge is None or judge == self.config.audit_judge:
            return self.config
        return replace(self.config, audit_judge=judge)

    def writer(self):  # noqa: ANN201 - Generator
        """The shared writing generator (``compile_model``, no adapter), loaded on first use: it compiles prose
        rules and answers follow-up questions. The judge itself when that is the same model without an adapter."""
        from assistant.audit_service import writer_config, writer_is_judge

        if writer_is_judge(self.config):
            return self.generator()
        with self._load_lock:
            if self._writer is None:
                self._writer = self._load(writer_config(self.config))
            return self._writer

    def embedder(self):  # noqa: ANN201 - Embedder
        """The shared knowledge-base embedder, loaded on first use."""
        with self._load_lock:
            if self._embedder is None:
                if self._embedder_factory is None:
                    from knowledge_base.embedder import make_embedder

                    self._embedder = make_embedder()
                else:
                    self._embedder = self._embedder_factory()
            return self._embedder

    def organisations(self) -> list[str]:
        """Organisations that have a knowledge base under the root."""
        from knowledge_base.store import default_root

        root = Path(self.kb_root) if self.kb_root else default_root()
        return sorted(p.name for p in root.glob("*") if (p / "CURRENT").is_file()) if root.is_dir() else []

    def open_store(self, org: str):  # noqa: ANN201 - KnowledgeBase
        """The organisation's store, possibly empty (for building)."""
        from knowledge_base.store import KnowledgeBase

        return KnowledgeBase(org, self.embedder(), root=self.kb_root)

    def knowledge_base(self, org: str):  # noqa: ANN201 - KnowledgeBase
        """The organisation's store (checked: raises IndexNotBuilt/IndexCorrupt/IndexMismatch with the fix)."""
        kb = self.open_store(org)
        kb.chunks()
        return kb

    def compile(self, org: str, progress: Callable[[int, int], None] | None = None) -> tuple[int, int]:
        """Compile the check plans of ``org``'s rules that have none for their text (the audit model; a few seconds a
        prose rule, nothing for an unchanged one). Returns (compiled, unchanged)."""
        from assistant.audit_service import compile_knowledge_base, stale_rules

        kb = self.knowledge_base(org)
        if not stale_rules(kb):
            return 0, len(kb.rule_texts())
        generator = self.model_judge()
        with self._run_lock:
            return compile_knowledge_base(kb, self.config, generator, progress, writer=self.writer)

    def plans(self, org: str) -> list[dict]:
        """Each rule's check plan, for the manager: rule id, heading, origin, whether it needs review, the plan in
        words and its spec (what an edit starts from)."""
        from dataclasses import asdict

        from assistant.plans import Plan, spec_of

        kb = self.knowledge_base(org)
        plans = {r: Plan.from_dict(d) for r, d in kb.plans().items()}
        rows = []
        for rule_id, (heading, _) in kb.rule_texts().items():
            plan = plans.get(rule_id)
            rows.append({"rule_id": rule_id, "heading": heading, "origin": plan.origin if plan else "not compiled",
                         "needs_review": plan.needs_review if plan else True,
                         "plan": plan.describe() if plan else "Not compiled yet: it is compiled at the first audit.",
                         "spec": asdict(spec_of(plan)) if plan else None})
        return rows

    def set_override(self, org: str, rule_id: str, spec: dict | None) -> None:
        """Store the manager's correction of ``rule_id``'s plan (a spec; raises InvalidSpec), or remove it (None)."""
        from assistant.plans import Spec, from_spec

        kb = self.knowledge_base(org)
        texts = kb.rule_texts()
        if spec is None or rule_id not in texts:  # the store names the known rules when the id is unknown
            kb.set_override(rule_id, None)
            return
        kb.set_override(rule_id, {"plan": from_spec(rule_id, *texts[rule_id], Spec.from_dict(spec), "override").to_dict()})

    def audit(self, text: str | Conversation, org: str, progress: Callable[[int, int], None] | None = None,  # noqa: ANN201
              judge: str | None = None):
        """Findings for ``text`` against ``org``'s guidelines (an ``AuditReport``), judged by ``judge`` (see
        ``judged_by``; None: the configured judge)."""
        from assistant.audit_service import build_auditor

        config = self.judged_by(judge)
        auditor = build_auditor(self.knowledge_base(org), config=config, generator=self.model_judge(config),
                                writer=self.writer)
        with self._run_lock:
            return auditor.audit(text, progress=progress)

    def answer(self, text: str | Conversation, question: str) -> Iterator[str]:
        """Stream an answer to a follow-up question about the conversation, with the writing model (``writer``: no
        adapter; the summary adapter only summarizes and a judge adapter only answers yes or no)."""
        generator = self.writer()
        with self._run_lock:
            yield from answer_question(generator, text, question)

    def support(self, conv: Conversation, summary: str):  # noqa: ANN201 - assistant.support.SupportReport
        """The support check of ``summary``'s sentences against ``conv`` (``assistant.support``) with the shared
        knowledge-base embedder: no language model, so it never waits for an audit or a summary."""
        from assistant.support import SupportChecker

        return SupportChecker(self.embedder(), self.config.support_threshold).check(conv, summary)

    def review(self, text: str | Conversation, org: str, progress: Callable[[int, int], None] | None = None,  # noqa: ANN201
               judge: str | None = None):
        """(summary text, AuditReport): the summary first, then the findings (judged by ``judge``, as ``audit``)."""
        if self.summaries is None:
            raise ValueError("review needs a SummaryService")
        *_, summary = self.summaries.stream_summary(text)
        return summary, self.audit(text, org, progress, judge)


def answer_question(generator, conv: Conversation | str, question: str, max_new_tokens: int = 160) -> Iterator[str]:  # noqa: ANN001
    """Stream the growing answer to ``question`` about ``conv``, from the conversation only."""
    from assistant.backends.base import GenerationParams
    from assistant.conversation import parse_conversation
    from assistant.errors import GenerationFailed, InvalidConversation
    from assistant.prompts import qa_messages, renderer_for

    if not question.strip():
        raise InvalidConversation("Type a question about the conversation first.")
    if len(question) > 1000:
        raise InvalidConversation("The question is too long (at most 1,000 characters).")
    if isinstance(conv, str):
        conv = parse_conversation(conv)
    prompt = renderer_for(generator)(qa_messages(conv, question))
    text = ""
    for piece in generator.stream(prompt, GenerationParams(max_new_tokens=max_new_tokens)):
        text += piece
        yield text.strip()
    if not text.strip():
        raise GenerationFailed("The model returned no answer; try rephrasing the question.")
