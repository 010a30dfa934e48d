"""Audit a conversation against the company's guidelines: retrieve the relevant ones, judge each with the LLM,
keep only evidence that is really in the conversation.

Flow: raw conversation -> retriever (the organisation's knowledge base) -> each retrieved guideline judged ->
checked findings. Prompts put the conversation first and the guideline after it, so llama.cpp reuses the
conversation's KV cache across guidelines.

Modes: ``checks`` (the default) turns each of a guideline's Followed / Violated / Not applicable clauses into
yes/no questions on the messages it is about (assistant.clauses) and reads P(yes) from the model's next-token
distribution; a guideline without clauses gets two generic questions. ``questions`` asks the clauses of the
whole conversation as constrained JSON, ``verdict`` asks for verdict, quote and rationale as JSON (a llama.cpp
grammar; other backends are parsed and retried).

An audit reads the raw text: signatures, links and handles are what the agent actually wrote.
"""

from __future__ import annotations

import json
import math
import re
import time
import unicodedata
from itertools import accumulate
from dataclasses import asdict, dataclass, field
from typing import Callable, Protocol

from assistant.backends.base import GenerationParams, Generator
from assistant.clauses import NEGATION, Check, checks_for, parse_clauses
from assistant.cleaning import clean_conversation
from assistant.conversation import MAX_CHARS, Conversation, Turn, parse_conversation, validate
from assistant.errors import InvalidConversation
from assistant.parts import split_conversation
from assistant.prompts import (
    audit_dialog, audit_messages, audit_question_messages, check_messages, default_format, render_prompt,
)

VERDICTS = ("followed", "violated", "not_applicable")
UNDETERMINED = "undetermined"  # the model gave no usable answer after retries: never guessed
FINDING_SCHEMA = json.dumps({
    "type": "object",
    "properties": {
        "evidence": {"type": "string", "maxLength": 240},
        "rationale": {"type": "string", "maxLength": 240},
        "verdict": {"type": "string", "enum": list(VERDICTS)},
    },
    "required": ["evidence", "rationale", "verdict"],
    "additionalProperties": False,
})
QUESTION_SCHEMA = json.dumps({
    "type": "object",
    "properties": {"turn": {"type": "integer"}, "answer": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["turn", "answer"],
    "additionalProperties": False,
})
YES_NO_SCHEMA = json.dumps({
    "type": "object", "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["answer"], "additionalProperties": False,
})
#: Tokens of a check prompt besides the conversation and the message asked about: system prompt, guideline and
#: question (the sample playbook's longest rule is about 250 tokens).
CHECK_ROOM = 768
_GENERIC_RATIONALE = {"followed": "The agent did what this guideline asks.",
                      "violated": "The agent did not do what this guideline asks.",
                      "not_applicable": "What this guideline is about does not come up in the conversation."}
_VERDICT_ALIASES = {
    "followed": "followed", "compliant": "followed", "complied": "followed", "pass": "followed", "yes": "followed",
    "violated": "violated", "not compliant": "violated", "non-compliant": "violated", "noncompliant": "violated",
    "fail": "violated", "no": "violated", "violation": "violated",
    "not_applicable": "not_applicable", "not applicable": "not_applicable", "n/a": "not_applicable", "na": "not_applicable",
}


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


@dataclass(frozen=True)
class AuditSettings:
    """How audits run."""

    k: int = 12  # passages retrieved; a playbook of up to ~12 rules is judged whole
    mode: str = "auto"  # auto = checks | questions | verdict (see the module docstring)
    yes_bias: float = 0.5  # logit subtracted from every yes of a check (small models say yes too readily); fitted on
    # the dev set with eval.audit --calibrate for the 1.5B audit model, checked on the held-out set
    max_new_tokens: int = 200
    retries: int = 1  # extra attempts (sampled) when the answer is not valid JSON with a known verdict
    max_input_chars: int = MAX_CHARS


@dataclass(frozen=True)
class Finding:
    """One guideline's verdict on the conversation."""

    rule_id: str | None
    guideline: str  # the guideline's heading
    verdict: str  # followed | violated | not_applicable | undetermined
    evidence: str  # a verbatim quote from the conversation, or ""
    evidence_status: str  # verbatim | none | unsupported (the model quoted words that are not in the conversation: dropped)
    rationale: str
    source: str
    chunk_ids: tuple[str, ...]
    raw_output: str  # the model's answer, for the audit trail
    attempts: int
    confidence: float | None = None  # checks mode: how sure the deciding check was (0.5 = a coin toss)
    checks: tuple[dict, ...] = ()  # checks mode: each clause's check and its probabilities (the audit trail)


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
            "findings": [{k: v for k, v in asdict(f).items() if k not in ("raw_output", "chunk_ids", "attempts", "checks")}
                         for f in self.findings],
            "compliance_score": self.compliance_score,
            "counts": self.counts,
            "retrieved": [asdict(p) for p in self.retrieved],
            "not_retrieved_rules": self.not_retrieved,
            "model": self.model,
            "seconds": round(self.seconds, 2),
            "trail": [{"rule_id": f.rule_id, "chunk_ids": list(f.chunk_ids), "raw_output": f.raw_output,
                       "attempts": f.attempts, **({"checks": list(f.checks)} if f.checks else {})} for f in self.findings],
        }


def parse_answer(text: str) -> dict | None:
    """The model's answer as ``{"verdict", "evidence", "rationale"}``, or None if unusable.

    Accepts the JSON object anywhere in the text (small models add prose or code fences), verdict
    synonyms and missing evidence/rationale; never raises.
    """
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(text[start:end + 1])
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    verdict = _VERDICT_ALIASES.get(str(data.get("verdict", "")).strip().lower().replace("-", " ").replace("_", " "))
    verdict = verdict or _VERDICT_ALIASES.get(str(data.get("verdict", "")).strip().lower())
    if verdict is None:
        return None
    evidence, rationale = data.get("evidence", ""), data.get("rationale", "")
    return {"verdict": verdict, "evidence": evidence if isinstance(evidence, str) else "",
            "rationale": rationale if isinstance(rationale, str) else ""}


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.translate(str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'}))
    return re.sub(r"\s+", " ", text).strip()


def verify_quote(quote: str, conv: Conversation) -> bool:
    """Whether ``quote`` appears in one turn of ``conv`` (case, quotes and whitespace normalised).

    Leading/trailing quote marks and ellipses the model adds are ignored; a quote must have 2+ characters.
    """
    q = _normalize(quote).strip(" \"'.…")
    if len(q) < 2:
        return False
    return any(q in _normalize(turn.text) for turn in conv.turns)


def parse_yes_no(text: str) -> tuple[bool, int] | None:
    """``(answer is yes, turn)`` from a question's JSON answer, or None if unusable (never raises)."""
    start, end = text.find("{"), text.rfind("}")
    try:
        data = json.loads(text[start:end + 1]) if 0 <= start < end else None
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or str(data.get("answer", "")).strip().lower() not in ("yes", "no"):
        return None
    turn = data.get("turn", 0)
    return str(data["answer"]).strip().lower() == "yes", turn if isinstance(turn, int) else 0


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


@dataclass(frozen=True)
class CheckResult:
    """A check's answer: ``p`` that its clause holds, and the per-reply probabilities it was aggregated from."""

    check: Check
    p: float  # bias-corrected, aggregated over the replies in scope
    per_turn: dict[int, float]  # P(yes) per reply (0-based turn), as the model said it
    conversation_p: float | None = None  # P(yes) of a conversation-level question, as the model said it

    def to_dict(self) -> dict:
        """For the audit trail (and for re-deciding with another bias without running the model again)."""
        return {"verdict": self.check.verdict, "scope": self.check.scope, "statement": self.check.statement,
                "generic": self.check.generic,
                "p": round(self.p, 6), "per_turn": {str(t): round(p, 6) for t, p in self.per_turn.items()},
                "conversation_p": None if self.conversation_p is None else round(self.conversation_p, 6)}


def debias(p: float, bias: float) -> float:
    """``p`` with ``bias`` subtracted from its logit (0 < p < 1; 0 and 1 stay)."""
    if not bias or not 0.0 < p < 1.0:
        return p
    return 1.0 / (1.0 + math.exp(bias - math.log(p / (1.0 - p))))


def aggregate(scope: str, values: list[float], bias: float = 0.0) -> float:
    """P(the clause holds) from its per-reply P(yes): the least for "all", none of them for "none", the most
    otherwise (any reply; first/last and conversation have one value)."""
    values = [debias(v, bias) for v in values]
    return min(values) if scope == "all" else 1.0 - max(values) if scope == "none" else max(values)


def across_windows(statement: str, values: list[float]) -> float:
    """P(yes) of a question about the whole conversation from its answers on each window of a long one: a statement
    that denies or restricts ("the situation never comes up", "the agent only ...") holds only if it holds in every
    window (the least); one that something happens holds if some window shows it (the most)."""
    return min(values) if NEGATION.search(statement) else max(values)


def informative_checks(checks: list[Check]) -> list[Check]:
    """Drop the violated or followed check that is worded as a negation when the other is not ("this reply has no
    signature" beside "this reply carries a signature"): within one rule, followed and violated are the two
    outcomes of the same requirement, small models answer negated questions poorly, and the positive wording
    says it all."""
    pair = {c.verdict: bool(NEGATION.search(c.statement)) for c in checks if c.verdict in ("violated", "followed")}
    if len(pair) == 2 and pair["violated"] != pair["followed"]:
        drop = "violated" if pair["violated"] else "followed"
        return [c for c in checks if c.verdict != drop]
    return checks


def decide(p: dict[str, float]) -> tuple[str, float]:
    """The verdict and its confidence from the probabilities that each clause holds."""
    if p.get("not_applicable", 0.0) >= 0.5:
        return "not_applicable", p["not_applicable"]
    if "violated" in p and "followed" in p:  # each answer counts for its verdict and against the other
        violated = (p["violated"] + 1.0 - p["followed"]) / 2
    else:
        violated = p["violated"] if "violated" in p else 1.0 - p["followed"]
    return ("violated", violated) if violated >= 0.5 else ("followed", 1.0 - violated)


def redecide(checks: list[dict], bias: float) -> tuple[str, float]:
    """The verdict a finding's recorded checks (``Finding.checks``) give under another ``yes_bias``: calibrating
    the bias on a labelled set needs no second run of the model."""
    p = {}
    for c in checks:
        values = list(c["per_turn"].values()) if c["per_turn"] else [c["conversation_p"]]
        p[c["verdict"]] = aggregate(c["scope"] if c["per_turn"] else "conversation", values, 0.0 if c.get("generic") else bias)
    return decide(p)


def evidence_turn(verdict: str, results: dict[str, CheckResult], bias: float = 0.0) -> int | None:
    """The message that shows ``verdict``: the likeliest one where the verdict's own clause holds, or the clearest
    counterexample to the other clause (the unsigned reply against "every reply carries a signature"). Only a
    message whose own answer supports the verdict is quoted; None when the verdict rests on an absence."""
    other = {"violated": "followed", "followed": "violated"}.get(verdict)
    for name, holds in ((verdict, True), (other, False)):
        result = results.get(name) if name else None
        if result is None or not result.per_turn:
            continue
        scope = result.check.scope
        # the answer that would show it: yes for a clause that holds on some message, no for a counterexample
        want_yes = (scope in ("first", "last", "any") and holds) or (scope == "none" and not holds)
        want_no = (scope in ("first", "last", "all") and not holds)
        p = {t: debias(v, bias) for t, v in result.per_turn.items()}
        if want_yes:
            turn = max(p, key=p.get)
            if p[turn] >= 0.5:
                return turn
        elif want_no:
            turn = min(p, key=p.get)
            if p[turn] < 0.5:
                return turn
    return None


def trail(results) -> str:  # noqa: ANN001 - iterable of CheckResult
    """The checks' probabilities for the audit trail: ``violated(any)=0.81 [t2 0.81, t4 0.12]``."""
    parts = []
    for r in results:
        turns = ", ".join(f"t{t + 1} {p:.2f}" for t, p in r.per_turn.items())
        parts.append(f"{r.check.verdict}({r.check.scope})={r.p:.2f}" + (f" [{turns}]" if turns else ""))
    return " | ".join(parts)


def parse_yes_no_only(text: str) -> bool | None:
    """``{"answer": "yes"|"no"}`` (or a bare yes/no) as a bool; None if unusable."""
    found = re.search(r"\b(yes|no)\b", text, re.IGNORECASE)
    return None if found is None else found[1].lower() == "yes"


def _about(rule_id: str | None, passages: list[Passage]) -> dict:
    """The fields every finding on this guideline shares: rule id, heading, source and the passages judged."""
    return dict(rule_id=rule_id, guideline=passages[0].heading.split(" > ")[-1], source=passages[0].source,
                chunk_ids=tuple(p.chunk_id for p in passages))


def _undetermined(about: dict, raw_output: str, attempts: int) -> Finding:
    """The finding when the model gave no usable answer: never a guessed verdict."""
    return Finding(verdict=UNDETERMINED, evidence="", evidence_status="none",
                   rationale="The model gave no usable answer; review by hand.", raw_output=raw_output,
                   attempts=attempts, **about)


class Auditor:
    """Judges conversations against retrieved guidelines with one generator."""

    def __init__(self, generator: Generator, retriever: Retriever, settings: AuditSettings | None = None) -> None:
        self.generator = generator
        self.retriever = retriever
        self.settings = settings or AuditSettings()
        self.prompt_format = default_format(generator.model_name, generator.chat_template is not None)
        self._graded = hasattr(generator, "choice_probabilities")  # else checks are plain yes/no: no confidence
        self._windows: dict[Conversation, tuple[range, ...]] = {}
        self._planned: list[tuple[int, str]] | None = None  # while planning a long audit: (window, prompt) asked
        self._answers: dict[str, float] = {}  # a long audit's P(yes) per prompt, asked window by window

    def prompt(self, conv: Conversation, guideline: str) -> str:
        """The rendered audit prompt for one guideline."""
        return render_prompt(audit_messages(conv, guideline), self.prompt_format, template=self.generator.chat_template,
                             **self.generator.special_tokens)

    def windows(self, conv: Conversation) -> tuple[range, ...]:
        """The turns each check prompt shows: the whole conversation when it fits the judge's context with room for
        the guideline, the question and the message asked about (``CHECK_ROOM``), else consecutive windows split at
        message boundaries (``assistant.parts``) that each fit. Computed once per conversation."""
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

    def judge(self, conv: Conversation, rule_id: str | None, passages: list[Passage]) -> Finding:
        """One guideline's finding, by yes/no questions on its clauses or by asking for the verdict directly."""
        text = "\n\n".join(p.text for p in passages)
        description, clauses = parse_clauses(text)
        mode = self.settings.mode
        if mode in ("questions", "verdict") and len(self.windows(conv)) > 1:
            raise InvalidConversation(
                f"The audit mode {mode!r} reads the whole conversation at once, and this one is too long for the "
                f"judge's context ({self.generator.context_length:,} tokens). Use the default mode (checks), which "
                "reads a long conversation in windows of messages.")
        if mode == "questions":
            return self.judge_by_questions(conv, rule_id, passages, description, clauses)
        if mode in ("checks", "auto"):
            return self.judge_by_checks(conv, rule_id, passages, description, clauses)
        return self.judge_by_verdict(conv, rule_id, passages)

    def ask(self, conv: Conversation, guideline: str, statement: str) -> tuple[tuple[bool, int] | None, str, int]:
        """Ask whether ``statement`` holds: ((yes, turn) or None, the raw answer, attempts)."""
        prompt = render_prompt(audit_question_messages(conv, guideline, statement), self.prompt_format,
                               template=self.generator.chat_template, **self.generator.special_tokens)
        raw = ""
        for attempt in range(1 + self.settings.retries):
            params = GenerationParams(max_new_tokens=24, temperature=0.0 if attempt == 0 else 0.3, seed=attempt,
                                      json_schema=QUESTION_SCHEMA)
            raw = "".join(self.generator.stream(prompt, params))
            answer = parse_yes_no(raw)
            if answer:
                return answer, raw, attempt + 1
        return None, raw, 1 + self.settings.retries

    def judge_by_questions(self, conv: Conversation, rule_id: str | None, passages: list[Passage], description: str,
                           clauses: dict[str, str]) -> Finding:
        """Small models answer narrow yes/no questions better than they pick among three verdicts: ask whether the
        guideline's not-applicable clause holds, then whether its violated clause holds; the turn the model points
        at is the evidence (verbatim by construction)."""
        if "violated" not in clauses:
            return self.judge_by_verdict(conv, rule_id, passages)
        common = _about(rule_id, passages)
        raws, attempts, final, turn = [], 0, "followed", 0
        for verdict in ("not_applicable", "violated"):
            if verdict not in clauses:
                continue
            answer, raw, n = self.ask(conv, description, clauses[verdict])
            raws.append(raw)
            attempts += n
            if answer is None:
                return _undetermined(common, " | ".join(raws), attempts)
            yes, turn = answer
            if yes or verdict == "violated":
                final = verdict if yes else "followed"
                break
        quote = conv.turns[turn - 1].text if final != "not_applicable" and 1 <= turn <= len(conv.turns) else ""
        rationale = clauses.get(final) or (f"Not the case: {clauses['violated']}" if final == "followed" else "")
        return Finding(verdict=final, evidence=quote, evidence_status="verbatim" if quote else "none",
                       rationale=rationale, raw_output=" | ".join(raws), attempts=attempts, **common)

    def yes_probability(self, conv: Conversation, guideline: str, statement: str, turn: int | None) -> float | None:
        """P(yes) that ``statement`` holds for message ``turn`` (or the conversation), as the model says it;
        None if the model gave no usable answer. Backends with ``choice_probabilities`` read it from the next-token
        distribution; others answer a constrained yes/no (1.0 or 0.0). A long conversation is shown in windows
        (``windows``): a message with the window that holds it; a question about the conversation is asked of each
        window and the answers combined (``across_windows``)."""
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
        prompt = render_prompt(messages, self.prompt_format, template=self.generator.chat_template,
                               **self.generator.special_tokens)
        if self._planned is not None:
            self._planned.append((window, prompt))
            return 0.5
        if prompt in self._answers:
            return self._answers[prompt]
        if self._graded:
            return self.generator.choice_probabilities(prompt, ("yes", "no"))[0]
        answer = parse_yes_no_only("".join(self.generator.stream(
            prompt, GenerationParams(max_new_tokens=12, json_schema=YES_NO_SCHEMA))))
        return None if answer is None else float(answer)

    def bias(self, check: Check) -> float:
        """The yes-bias for ``check``: the calibrated one for a guideline's own clauses; none for the generic
        questions of a prose guideline (the bias was fitted on clause checks and only hurts those: see README)."""
        return 0.0 if check.generic else self.settings.yes_bias

    def run_check(self, conv: Conversation, guideline: str, check: Check) -> CheckResult | None:
        """Ask ``check`` of every reply in its scope (or of the conversation) and aggregate; None if unanswered."""
        # "anyone" means the two people: bot replies and system notices are never judged as either's messages
        eligible = [i for i, t in enumerate(conv.turns)
                    if t.speaker == check.speaker or (check.speaker == "anyone" and t.speaker in ("customer", "agent"))]
        if check.scope == "conversation" or not eligible:
            p = self.yes_probability(conv, guideline, check.statement if check.scope == "conversation" else check.clause, None)
            return None if p is None else CheckResult(check, aggregate("conversation", [p], self.bias(check)), {}, p)
        turns = eligible[:1] if check.scope == "first" else eligible[-1:] if check.scope == "last" else eligible
        per_turn = {}
        for turn in turns:
            p = self.yes_probability(conv, guideline, check.statement, turn)
            if p is None:
                return None
            per_turn[turn] = p
        return CheckResult(check, aggregate(check.scope, list(per_turn.values()), self.bias(check)), per_turn)

    def judge_by_checks(self, conv: Conversation, rule_id: str | None, passages: list[Passage], description: str,
                        clauses: dict[str, str]) -> Finding:
        """Each clause becomes a yes/no check on the agent replies it is about (see assistant.clauses), scored by
        the model's probability of "yes": not applicable when that clause holds, else the likelier of violated
        and followed. The reply that decided is the evidence (verbatim by construction)."""
        common = _about(rule_id, passages)
        results: dict[str, CheckResult] = {}
        for check in informative_checks(checks_for(clauses)):
            result = self.run_check(conv, description, check)
            if result is None:
                return _undetermined(common, trail(results.values()), len(results) + 1)
            results[check.verdict] = result
        verdict, confidence = decide({v: r.p for v, r in results.items()})
        turn = evidence_turn(verdict, results, self.settings.yes_bias)
        quote = conv.turns[turn].text if turn is not None else ""
        return Finding(verdict=verdict, evidence=quote, evidence_status="verbatim" if quote else "none",
                       rationale=clauses.get(verdict) or _GENERIC_RATIONALE[verdict], raw_output=trail(results.values()),
                       attempts=len(results),
                       confidence=round(confidence, 3) if self._graded else None,
                       checks=tuple(r.to_dict() for r in results.values()), **common)

    def judge_by_verdict(self, conv: Conversation, rule_id: str | None, passages: list[Passage]) -> Finding:
        """Ask for the verdict, a quote and a rationale as JSON (schema-constrained where the backend can)."""
        text = "\n\n".join(p.text for p in passages)
        prompt = self.prompt(conv, text)
        answer, raw, attempts = None, "", 0
        for attempt in range(1 + self.settings.retries):
            attempts += 1
            params = GenerationParams(max_new_tokens=self.settings.max_new_tokens, temperature=0.0 if attempt == 0 else 0.3,
                                      seed=attempt, json_schema=FINDING_SCHEMA)
            raw = "".join(self.generator.stream(prompt, params))
            answer = parse_answer(raw)
            if answer:
                break
        if answer is None:
            return _undetermined(_about(rule_id, passages), raw, attempts)
        quote = answer["evidence"].strip()
        status = "none" if not quote else "verbatim" if verify_quote(quote, conv) else "unsupported"
        return Finding(verdict=answer["verdict"], evidence=quote if status == "verbatim" else "", evidence_status=status,
                       rationale=answer["rationale"].strip(), raw_output=raw, attempts=attempts, **_about(rule_id, passages))

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
            self._answers[prompt] = self.generator.choice_probabilities(prompt, ("yes", "no"))[0]

    def audit(self, conv: Conversation | str, progress: Callable[[int, int], None] | None = None) -> AuditReport:
        """Retrieve the relevant guidelines for ``conv`` and judge each; raises InvalidConversation on bad input."""
        start = time.perf_counter()
        if isinstance(conv, str):
            conv = parse_conversation(conv, max_chars=self.settings.max_input_chars)
        else:
            validate(conv, max_chars=self.settings.max_input_chars)
        query = clean_conversation(conv).to_text() or conv.to_text()  # links and handles only blur the embedding
        passages = self.retriever.retrieve(query, self.settings.k)
        groups = group_guidelines(passages)
        if not groups:
            raise InvalidConversation("No guideline was retrieved: the organisation's knowledge base is empty.")
        prefetched = self._graded and len(self.windows(conv)) > 1
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
            self._windows.clear()  # a batch audits many conversations: keep none of them
        if progress:
            progress(len(groups), len(groups))
        retrieved_ids = {p.rule_id for p in passages if p.rule_id}
        not_retrieved = [r for r in self.retriever.rule_ids() if r not in retrieved_ids]
        return AuditReport(findings, passages, not_retrieved, self.generator.model_name,
                           time.perf_counter() - start, conv.conversation_id)
