"""Audit a conversation against the company's guidelines: retrieve the relevant ones, judge each by yes/no checks,
quote only messages of the conversation as evidence.

Flow: raw conversation -> retriever (the organisation's knowledge base) -> each retrieved guideline's Followed /
Violated / Not applicable clauses turned into yes/no checks on the messages they are about (assistant.clauses; a
guideline without clauses gets two generic questions) -> each check answered by the scorer (assistant.judge: P(yes)
from the next-token distribution where the backend has it, a constrained yes/no where it does not) -> a finding per
guideline. Prompts put the conversation first and the guideline after it, so llama.cpp reuses the conversation's KV
cache across checks; a conversation longer than the judge's context is shown in windows of messages.

An audit reads the raw text: signatures, links and handles are what the agent actually wrote.
"""

from __future__ import annotations

import time
from itertools import accumulate
from dataclasses import asdict, dataclass, field
from typing import Callable, Protocol

from assistant.backends.base import Generator
from assistant.clauses import Check, parse_clauses
from assistant.cleaning import clean_conversation
from assistant.config import MODEL_MANY_BIAS, MODEL_TRIGGER_BIAS, MODEL_YES_BIAS, AuditSettings
from assistant.conversation import Conversation, Turn, parse_conversation, validate
from assistant.errors import InvalidConversation
from assistant.detectors import detect
from assistant.judge import (
    CheckResult, across_windows, aggregate, closest_turn, decide, evidence_turn, informative_checks, make_scorer,
    shown_by_requirement, trail, trigger_biased,
)
from assistant.parts import split_conversation
from assistant.plans import Plan, compile_rule, rule_key
from assistant.encoder_judge import EncoderJudge
from assistant.prompts import audit_dialog, check_messages, renderer_for

VERDICTS = ("followed", "violated", "not_applicable")
UNDETERMINED = "undetermined"  # the judge gave no usable answer to a check: never guessed
#: Tokens of a check prompt besides the conversation and the message asked about: system prompt, guideline and
#: question (the sample playbook's longest rule is about 250 tokens).
CHECK_ROOM = 768
_GENERIC_RATIONALE = {"followed": "The agent did what this guideline asks.",
                      "violated": "The agent did not do what this guideline asks.",
                      "not_applicable": "What this guideline is about does not come up in the conversation."}


@dataclass(frozen=True)
class Passage:
    """A retrieved piece of a guideline document."""

    chunk_id: str
    source: str
    heading: str
    rule_id: str | None
    text: str
    score: float


class Retriever(Protocol):
    """Where guidelines come from (the organisation's knowledge base; tests use fakes)."""

    def retrieve(self, query: str, k: int) -> list[Passage]:
        """The ``k`` passages most relevant to ``query``, best first."""

    def rule_ids(self) -> list[str]:
        """Every rule id in the store (to report which rules were not retrieved)."""

    # Optional (a knowledge base has them): the plans compiled when the rules were stored; every rule's passages
    # and a similarity of texts, with which a large playbook's triggered rules are selected (``Auditor.select``).
    # def plans(self) -> dict[str, Plan]
    # def rules(self) -> dict[str, list[Passage]]
    # def similarity(self, queries: list[str], texts: list[str]) -> list[list[float]]


@dataclass(frozen=True)
class Finding:
    """One guideline's verdict on the conversation, decided by yes/no checks on its clauses."""

    rule_id: str | None
    guideline: str  # the guideline's heading
    verdict: str  # followed | violated | not_applicable | undetermined (a check went unanswered)
    evidence: str  # the whole message that decided, verbatim, or "" when the verdict rests on an absence
    # verbatim: the quote is the message that shows the verdict; absence: a violation that rests on what no message
    # does, and the quote is the message that came closest (verbatim too); none: no quote
    evidence_status: str
    rationale: str  # why, in words: the guideline's clause for the verdict, or the deciding check and its answer
    source: str
    chunk_ids: tuple[str, ...]
    raw_output: str  # the checks' answers as text (``judge.trail``), for the audit trail
    checks_asked: int  # checks put to the judge (the last one unanswered when undetermined)
    confidence: float | None = None  # how sure the deciding check was (0.5 = a coin toss); None with a yes/no scorer
    checks: tuple[dict, ...] = ()  # each check and its P(yes) per message (the audit trail; eval.audit re-decides)
    decided_by: str = ""  # the plan's check that decided the verdict, in words
    plan_origin: str = ""  # how the rule's plan was made: clauses | model | fallback | override (assistant.plans)


@dataclass
class AuditReport:
    """Findings, the overall score and the audit trail (retrieved passages, model, timings)."""

    findings: list[Finding]
    retrieved: list[Passage]
    not_retrieved: list[str]
    model: str
    seconds: float
    conversation_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    compliance_score: float | None = None

    def __post_init__(self) -> None:
        self.counts = {v: sum(f.verdict == v for f in self.findings) for v in (*VERDICTS, UNDETERMINED)}
        judged = self.counts["followed"] + self.counts["violated"]
        self.compliance_score = self.counts["followed"] / judged if judged else None

    def to_dict(self) -> dict:
        """JSON-ready: findings first, then the score and the trail."""
        return {
            "conversation_id": self.conversation_id,
            "findings": [{k: v for k, v in asdict(f).items() if k not in ("raw_output", "chunk_ids", "checks_asked", "checks")}
                         for f in self.findings],
            "compliance_score": self.compliance_score,
            "counts": self.counts,
            "retrieved": [asdict(p) for p in self.retrieved],
            "not_retrieved_rules": self.not_retrieved,
            "model": self.model,
            "seconds": round(self.seconds, 2),
            "trail": [{"rule_id": f.rule_id, "chunk_ids": list(f.chunk_ids), "raw_output": f.raw_output,
                       "checks_asked": f.checks_asked, **({"checks": list(f.checks)} if f.checks else {})} for f in self.findings],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "AuditReport":
        """The report ``to_dict`` wrote, trail included (a resumed evaluation reads back the audits it finished)."""
        findings = [Finding(**{**f, "chunk_ids": tuple(t["chunk_ids"]), "raw_output": t["raw_output"],
                               "checks_asked": t["checks_asked"], "checks": tuple(t.get("checks", ()))})
                    for f, t in zip(data["findings"], data["trail"], strict=True)]
        return cls(findings, [Passage(**p) for p in data["retrieved"]], data["not_retrieved_rules"], data["model"],
                   data["seconds"], data["conversation_id"])


def turns_in_scope(conv: Conversation, check: Check) -> list[int]:
    """The messages (0-based turns) ``check`` is asked of: its speaker's, the first or last of them or all; none for a
    question about the whole conversation, or when the speaker wrote nothing. "anyone" means the two people: bot
    replies and system notices are never judged as either's messages."""
    eligible = [i for i, t in enumerate(conv.turns)
                if t.speaker == check.speaker or (check.speaker == "anyone" and t.speaker in ("customer", "agent"))]
    if check.scope == "conversation":
        return []
    return eligible[:1] if check.scope == "first" else eligible[-1:] if check.scope == "last" else eligible


def group_guidelines(passages: list[Passage]) -> list[tuple[str | None, list[Passage]]]:
    """Passages grouped by rule id, in retrieval order. When the store has rule ids, passages without one
    (a document's preamble) are context, not guidelines; without any rule ids, each passage is a guideline."""
    with_ids = [p for p in passages if p.rule_id]
    if not with_ids:
        return [(None, [p]) for p in passages]
    groups: dict[str, list[Passage]] = {}
    for p in with_ids:
        groups.setdefault(p.rule_id, []).append(p)
    return list(groups.items())


def _about(rule_id: str | None, passages: list[Passage]) -> dict:
    """The fields every finding on this guideline shares: rule id, heading, source and the passages judged."""
    return dict(rule_id=rule_id, guideline=passages[0].heading.split(" > ")[-1], source=passages[0].source,
                chunk_ids=tuple(p.chunk_id for p in passages))


def _undetermined(about: dict, raw_output: str, checks_asked: int) -> Finding:
    """The finding when the model gave no usable answer: never a guessed verdict."""
    return Finding(verdict=UNDETERMINED, evidence="", evidence_status="none",
                   rationale="The model gave no usable answer; review by hand.", raw_output=raw_output,
                   checks_asked=checks_asked, **about)


_TARGET = {"first": "the agent's first reply", "last": "the agent's last reply", "all": "every agent reply",
           "any": "the agent's replies", "none": "the messages", "conversation": "the conversation"}


def _in_words(check: Check) -> str:
    """A check as a manager reads it: what was asked of which messages, and how it was answered."""
    question = check.statement if check.statement.endswith("?") else f'"{check.statement}"'
    whose = {"customer": "the customer's messages", "anyone": "every message"}.get(check.speaker, _TARGET[check.scope])
    target = _TARGET[check.scope] if check.scope in ("first", "last", "all", "any", "conversation") else whose
    how = f", by the {check.detector.replace('_', ' ')} detector" if check.detector else ""
    return f"{question} asked of {target}{how}"


def _rationale(verdict: str, result: CheckResult | None) -> str:
    """Why, when the rule states no clause for ``verdict``: the deciding check and the answer it got."""
    if result is None:
        return _GENERIC_RATIONALE[verdict]
    answer = "yes" if result.p >= 0.5 else "no"
    if verdict == "not_applicable" and result.check.scope == "none" and result.per_turn:
        # the trigger: "not applicable" when no message shows the situation clearly enough
        return (f"Not applicable: {_in_words(result.check)}; no message showed it clearly enough (highest "
                f"P(yes) {max(result.per_turn.values()):.2f}).")
    asked = _in_words(result.check) + ("," if result.check.detector else "")
    if verdict == "not_applicable":
        return f"Not applicable: {asked} was answered {answer}."
    shown = "" if result.check.detector else f" (P {result.p:.2f})"  # a detector's answer is exact
    return f"{verdict.capitalize()}: {asked} was answered {answer}{shown}."


class Auditor:
    """Judges conversations against retrieved guidelines: each check is answered by the trained judge (``judge``,
    an ``assistant.encoder_judge.EncoderJudge``) or, without one, by the language model ``generator``."""

    def __init__(self, generator: Generator | None, retriever: Retriever, settings: AuditSettings | None = None,
                 compiler: Callable[[str | None, str, str], Plan] | None = None, judge: EncoderJudge | None = None) -> None:
        if generator is None and judge is None:
            raise ValueError("an Auditor needs a judge or a generator")
        self.generator = generator
        self.judge_model = judge
        self.retriever = retriever
        self.settings = settings or AuditSettings()
        self.compiler = compiler  # for a rule stored without a plan (assistant.plans.compile_rule)
        self._plans: dict[str, Plan] = {}  # compiled here, by rule_key
        self._stored: dict[str, Plan] | None = None  # the store's plans, read once per audit (``audit``)
        if generator is not None:
            self._render = renderer_for(generator)  # check messages -> the judge's prompt
            self.scorer = make_scorer(generator, self.settings.scorer)
        self.graded = judge is not None or self.scorer.graded  # answers are probabilities, hence a confidence
        self.yes_bias = (self.settings.yes_bias if self.settings.yes_bias is not None else
                         judge.yes_bias if judge is not None else MODEL_YES_BIAS)  # the judge's own unless set
        self.many_bias = (self.settings.many_bias if self.settings.many_bias is not None else
                          judge.many_bias if judge is not None else MODEL_MANY_BIAS)
        self.trigger_bias = (self.settings.trigger_bias if self.settings.trigger_bias is not None else
                             judge.trigger_bias if judge is not None else MODEL_TRIGGER_BIAS)
        self.model_name = judge.model_name if judge is not None else generator.model_name  # type: ignore[union-attr]
        self._windows: dict[Conversation, tuple[range, ...]] = {}
        self._planned: list[tuple[int, str]] | None = None  # while planning a long audit: (window, prompt) asked
        self._answers: dict[str, float] = {}  # a long audit's P(yes) per prompt, asked window by window

    def windows(self, conv: Conversation) -> tuple[range, ...]:
        """The turns each check prompt shows: the whole conversation when it fits the judge's context with room for
        the guideline, the question and the message asked about (``CHECK_ROOM``), else consecutive windows split at
        message boundaries (``assistant.parts``) that each fit. Computed once per conversation. The trained judge
        reads one message at a time (it windows conversation-level questions itself): one window."""
        if self.judge_model is not None:
            return (range(len(conv.turns)),)
        if conv not in self._windows:
            def cost(turn: Turn) -> int:
                return self.generator.count_tokens(audit_dialog(Conversation((turn,)))) + 1

            costs = [cost(t) for t in conv.turns]
            longest = max(range(len(costs)), key=costs.__getitem__)
            room = self.generator.context_length - CHECK_ROOM - costs[longest]  # the message asked about is shown twice
            if costs[longest] > room:  # an audit judges whole messages: this one cannot be shown with itself
                raise InvalidConversation(
                    f"Message {longest + 1} ({conv.turns[longest].speaker}, {len(conv.turns[longest].text):,} "
                    f"characters) is too long for the judge's context on its own ({self.generator.context_length:,} "
                    "tokens). Shorten that message, or audit with a model with a larger context (n_ctx).")
            windows = (range(len(costs)),)
            if self.generator.count_tokens(audit_dialog(conv)) > room:
                bounds = [0, *accumulate(len(part.turns) for part in split_conversation(conv, cost, room).parts)]
                windows = tuple(range(start, stop) for start, stop in zip(bounds, bounds[1:]))
            self._windows[conv] = windows
        return self._windows[conv]

    def yes_probability(self, conv: Conversation, guideline: str, statement: str, turn: int | None) -> float | None:
        """P(yes) that ``statement`` holds for message ``turn`` (or the conversation), as the model says it;
        None if the model gave no usable answer (``self.scorer``: next-token P(yes), or a constrained yes/no read as
        1.0 or 0.0). A long conversation is shown in windows
        (``windows``): a message with the window that holds it; a question about the conversation is asked of each
        window and the answers combined (``across_windows``)."""
        if self.judge_model is not None:
            return self.judge_model.p_yes(conv, guideline, statement, turn)
        windows = self.windows(conv)
        if len(windows) == 1:
            return self._yes(check_messages(conv, guideline, statement, turn))
        if turn is not None:
            i = next(i for i, w in enumerate(windows) if turn in w)
            return self._yes(check_messages(conv, guideline, statement, turn, window=windows[i]), i)
        answers = [self._yes(check_messages(conv, guideline, statement, None, window=w), i) for i, w in enumerate(windows)]
        return None if None in answers else across_windows(statement, answers)  # type: ignore[arg-type]

    def _yes(self, messages: list[dict[str, str]], window: int = 0) -> float | None:
        """P(yes) of one rendered check (see ``yes_probability``); while a long audit is planned (``prefetch``),
        the prompt is only noted, with its ``window``."""
        prompt = self._render(messages)
        if self._planned is not None:
            self._planned.append((window, prompt))
            return 0.5
        if prompt in self._answers:
            return self._answers[prompt]
        return self.scorer.p_yes(prompt)

    def bias(self, check: Check) -> float:
        """The yes-bias for ``check``: the calibrated one for a guideline's own clauses; none for the generic
        questions of a prose guideline (the bias was fitted on clause checks and only hurts those: see README)."""
        return 0.0 if check.generic else self.yes_bias

    def many(self, check: Check) -> float:
        """The many-bias for ``check`` (``assistant.judge.value_bias``): none for a prose guideline's generic questions."""
        return 0.0 if check.generic else self.many_bias

    def holds(self, check: Check, p: float) -> float:
        """P(``check``'s clause holds) from its aggregated answers (``assistant.judge.trigger_biased``)."""
        return trigger_biased(check.verdict, check.generic, p, self.trigger_bias)

    def run_check(self, conv: Conversation, guideline: str, check: Check) -> CheckResult | None:
        """Ask ``check`` of every reply in its scope (or of the conversation) and aggregate; None if unanswered."""
        turns = turns_in_scope(conv, check)
        if check.scope == "conversation" or not turns:
            p = self.yes_probability(conv, guideline, check.statement if check.scope == "conversation" else check.clause, None)
            return None if p is None else CheckResult(check, self.holds(check, aggregate("conversation", [p], self.bias(check))),
                                                      {}, p)
        per_turn = {}
        for turn in turns:
            p = (float(detect(check.detector, conv.turns[turn].text)) if check.detector else
                 self.yes_probability(conv, guideline, check.statement, turn))
            if p is None:
                return None
            per_turn[turn] = p
        return CheckResult(check, self.holds(check, aggregate(check.scope, list(per_turn.values()), self.bias(check),
                                                              self.many(check))), per_turn)

    def plan(self, rule_id: str | None, passages: list[Passage]) -> Plan:
        """The rule's check plan: the one stored with the knowledge base (compiled at ingestion, or the manager's
        override) when it was made from this text, else compiled now (``self.compiler``; without one, from the
        rule's clauses or the generic questions) and kept for the next audit."""
        heading, text = passages[0].heading.split(" > ")[-1], "\n\n".join(p.text for p in passages)
        key = rule_key(heading, text)
        if self._stored is None:
            self._stored = self.retriever.plans() if hasattr(self.retriever, "plans") else {}
        stored = self._stored.get(rule_id) if rule_id else None
        if stored is not None and (stored.key == key or stored.origin == "override"):
            return stored
        if key not in self._plans:
            self._plans[key] = compile_rule(self.compiler, rule_id, heading, text)
        return self._plans[key]

    def judge(self, conv: Conversation, rule_id: str | None, passages: list[Passage]) -> Finding:
        """One guideline's finding from its plan's checks (see assistant.plans), asked in order and scored by
        P(yes): not applicable when the trigger's not-applicable check holds (the requirement is then asked only
        where a detector answers it, for free: see ``shown_by_requirement``), else the likelier of violated and
        followed. The message that decided is the evidence (verbatim by construction)."""
        plan = self.plan(rule_id, passages)
        description, clauses = parse_clauses("\n\n".join(p.text for p in passages))
        common = dict(_about(rule_id, passages), plan_origin=plan.origin)
        results: dict[str, CheckResult] = {}
        outside = False  # the trigger found the rule not applicable: only a detector's free answer can overrule it
        for check in informative_checks(list(plan.checks)):
            if outside and not (check.detector and check.verdict == "followed"):
                continue
            result = self.run_check(conv, description, check)
            if result is None:
                return _undetermined(common, trail(results.values()), len(results) + 1)
            results[check.verdict] = result
            if check.verdict == "not_applicable" and result.p >= 0.5 and self._planned is None:
                outside = True  # the rule does not apply: its requirement is not asked of the model
        p = {v: r.p for v, r in results.items()}
        shown = shown_by_requirement(p, [v for v, r in results.items() if r.check.detector])
        verdict, confidence = decide({**p, "not_applicable": 0.0} if shown else p)
        turn, status = evidence_turn(verdict, results, self.yes_bias, self.many_bias), "verbatim"
        if turn is None and verdict == "violated":
            turn, status = closest_turn(results, self.yes_bias, self.many_bias), "absence"
        quote = conv.turns[turn].text if turn is not None else ""
        deciding = results.get(verdict) or results.get({"violated": "followed", "followed": "violated"}.get(verdict, ""))
        rationale = (clauses.get(verdict) if plan.origin == "clauses" else None) or _rationale(verdict, deciding)
        if status == "absence" and quote:
            rationale += f" No reply in scope does it; the quote is the closest one (turn {turn + 1})."
        if shown:
            rationale += (f" The rule applies although its trigger ({_in_words(results['not_applicable'].check)}) found "
                          "no message showing its situation: the agent did what the rule asks in that situation.")
        return Finding(verdict=verdict, evidence=quote, evidence_status=status if quote else "none",
                       rationale=rationale, raw_output=trail(results.values()), checks_asked=len(results),
                       confidence=round(confidence, 3) if self.graded else None,
                       checks=tuple(r.to_dict() for r in results.values()),
                       decided_by=_in_words(deciding.check) if deciding else "", **common)

    def rank_triggered(self, conv: Conversation, passages: list[Passage]) -> tuple[list[str], list[str]]:
        """(rules that always apply, rules with a trigger ranked by how likely they apply, likeliest first).

        A triggered rule's rank is the better of two similarities: its retrieved passages' to the whole conversation
        (``passages``), and its compiled trigger question's to the conversation's messages (a refund rule whose
        trigger is "Does this message mention a refund?" ranks high when one message does, however long the
        conversation is about something else)."""
        rules = self.retriever.rules()
        plans = {r: self.plan(r, ps) for r, ps in rules.items()}
        always = [r for r in rules if plans[r].always]
        triggered = [r for r in rules if not plans[r].always]
        score = {r: max((p.score for p in passages if p.rule_id == r), default=-1.0) for r in triggered}
        triggers = {r: next(c.statement for c in plans[r].checks if c.verdict == "not_applicable") for r in triggered}
        messages = [t.text for t in clean_conversation(conv).turns if t.text.strip()]
        if triggers and messages:
            rows = self.retriever.similarity(list(triggers.values()), messages)
            for r, row in zip(triggers, rows):
                score[r] = max(score[r], max(row))
        return always, sorted(triggered, key=lambda r: -score[r])

    def select(self, conv: Conversation, passages: list[Passage]) -> list[tuple[str | None, list[Passage]]]:
        """The rules judged in this audit, in playbook order: every rule that always applies (marked when it was
        compiled: form, greeting, closing), and the ``k`` likeliest of the rules with a trigger
        (``rank_triggered``). A playbook of up to ``k`` triggered rules is judged whole; a larger one costs at most
        ``k`` triggered rules per audit."""
        rules = self.retriever.rules()
        always, ranked = self.rank_triggered(conv, passages)
        chosen = set(always) | set(ranked[: self.settings.k])
        return [(r, ps) for r, ps in rules.items() if r in chosen]

    def prefetch(self, conv: Conversation, groups: list[tuple[str | None, list[Passage]]],
                 progress: Callable[[int, int], None] | None = None) -> None:
        """Answer every check of a long conversation window by window, for ``audit`` to read.

        Judging asks guideline after guideline, and each guideline's checks would show every window again: llama.cpp
        keeps only the prefix shared with the previous prompt, so each window would be read once per check. Which
        checks are asked does not depend on the answers (with P(yes) there is no unusable answer), so the judging is
        first run only to note its prompts, which are then answered grouped by window: each window is read once.
        ``progress`` counts the share answered, in guidelines.
        """
        self._planned = []
        try:
            for rule_id, group in groups:
                self.judge(conv, rule_id, group)
        finally:
            planned, self._planned = self._planned, None
        ordered = sorted(dict.fromkeys(planned), key=lambda asked: asked[0])  # stable: asking order in a window
        reported = -1
        for done, (_, prompt) in enumerate(ordered):
            share = done * len(groups) // len(ordered)
            if progress and share > reported:
                progress(share, len(groups))
                reported = share
            self._answers[prompt] = self.scorer.p_yes(prompt)

    def audit(self, conv: Conversation | str, progress: Callable[[int, int], None] | None = None) -> AuditReport:
        """Retrieve the relevant guidelines for ``conv`` and judge each; raises InvalidConversation on bad input."""
        start = time.perf_counter()
        self._stored = None  # read the store's plans afresh, once for this audit
        if isinstance(conv, str):
            conv = parse_conversation(conv, max_chars=self.settings.max_input_chars)
        else:
            validate(conv, max_chars=self.settings.max_input_chars)
        query = clean_conversation(conv).to_text() or conv.to_text()  # links and handles only blur the embedding
        passages = self.retriever.retrieve(query, self.settings.k)
        groups = group_guidelines(passages)
        if groups and hasattr(self.retriever, "rules"):
            groups = self.select(conv, passages)
        if not groups:
            raise InvalidConversation("No guideline was retrieved: the organisation's knowledge base is empty.")
        prefetched = self.judge_model is None and self.scorer.graded and len(self.windows(conv)) > 1
        if prefetched:
            self.prefetch(conv, groups, progress)
        findings = []
        try:
            for i, (rule_id, group) in enumerate(groups):
                if progress and not prefetched:
                    progress(i, len(groups))
                findings.append(self.judge(conv, rule_id, group))
        finally:
            self._answers.clear()
            self._stored = None  # the next audit reads the store again (a manager may have corrected a plan)
            self._windows.clear()  # a batch audits many conversations: keep none of them
        if progress:
            progress(len(groups), len(groups))
        judged = {rule_id for rule_id, _ in groups}
        not_retrieved = [r for r in self.retriever.rule_ids() if r not in judged]
        return AuditReport(findings, passages, not_retrieved, self.model_name,
                           time.perf_counter() - start, conv.conversation_id)
