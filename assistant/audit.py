"""Audit a conversation against the company's guidelines: retrieve the relevant ones, judge each with the LLM,
keep only evidence that is really in the conversation.

Flow: raw conversation -> retriever (the organisation's knowledge base) -> one prompt per guideline (the
conversation first, the guideline last, so llama.cpp reuses the conversation's KV cache across guidelines) ->
JSON constrained by a schema (llama.cpp grammar; other backends are parsed and retried) -> checked findings.

An audit reads the raw text: signatures, links and handles are what the agent actually wrote.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Callable, Protocol

from assistant.backends.base import GenerationParams, Generator
from assistant.cleaning import clean_conversation
from assistant.conversation import MAX_CHARS, Conversation, parse_conversation, validate
from assistant.errors import InvalidConversation
from assistant.prompts import audit_messages, audit_question_messages, default_format, render_prompt

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
# "- Followed: ...", "Violated: ...", "* Not applicable: ..." lines of a guideline
_CLAUSE_RE = re.compile(r"^[ \t]*(?:[-*+][ \t]*)?(followed|violated|not[ _]applicable)[ \t]*:[ \t]*(.+)$", re.IGNORECASE | re.MULTILINE)
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
    mode: str = "auto"  # questions | verdict | auto (questions when the guideline states when it is violated)
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
            "findings": [{k: v for k, v in asdict(f).items() if k not in ("raw_output", "chunk_ids", "attempts")}
                         for f in self.findings],
            "compliance_score": self.compliance_score,
            "counts": self.counts,
            "retrieved": [asdict(p) for p in self.retrieved],
            "not_retrieved_rules": self.not_retrieved,
            "model": self.model,
            "seconds": round(self.seconds, 2),
            "trail": [{"rule_id": f.rule_id, "chunk_ids": list(f.chunk_ids), "raw_output": f.raw_output,
                       "attempts": f.attempts} for f in self.findings],
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


def parse_clauses(text: str) -> tuple[str, dict[str, str]]:
    """A guideline's description and its verdict clauses: ``{"followed"|"violated"|"not_applicable": text}``."""
    clauses = {m[1].lower().replace(" ", "_"): m[2].strip() for m in _CLAUSE_RE.finditer(text)}
    return _CLAUSE_RE.sub("", text).strip(), clauses


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


class Auditor:
    """Judges conversations against retrieved guidelines with one generator."""

    def __init__(self, generator: Generator, retriever: Retriever, settings: AuditSettings | None = None) -> None:
        self.generator = generator
        self.retriever = retriever
        self.settings = settings or AuditSettings()
        self.prompt_format = default_format(generator.model_name, generator.chat_template is not None)

    def prompt(self, conv: Conversation, guideline: str) -> str:
        """The rendered audit prompt for one guideline."""
        return render_prompt(audit_messages(conv, guideline), self.prompt_format, template=self.generator.chat_template,
                             **self.generator.special_tokens)

    def judge(self, conv: Conversation, rule_id: str | None, passages: list[Passage]) -> Finding:
        """One guideline's finding, by yes/no questions on its clauses or by asking for the verdict directly."""
        text = "\n\n".join(p.text for p in passages)
        description, clauses = parse_clauses(text)
        mode = self.settings.mode
        if mode == "questions" or (mode == "auto" and "violated" in clauses):
            return self.judge_by_questions(conv, rule_id, passages, description, clauses)
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
        common = dict(rule_id=rule_id, guideline=passages[0].heading.split(" > ")[-1], source=passages[0].source,
                      chunk_ids=tuple(p.chunk_id for p in passages))
        raws, attempts, final, turn = [], 0, "followed", 0
        for verdict in ("not_applicable", "violated"):
            if verdict not in clauses:
                continue
            answer, raw, n = self.ask(conv, description, clauses[verdict])
            raws.append(raw)
            attempts += n
            if answer is None:
                return Finding(verdict=UNDETERMINED, evidence="", evidence_status="none",
                               rationale="The model gave no usable answer; review by hand.",
                               raw_output=" | ".join(raws), attempts=attempts, **common)
            yes, turn = answer
            if yes or verdict == "violated":
                final = verdict if yes else "followed"
                break
        quote = conv.turns[turn - 1].text if final != "not_applicable" and 1 <= turn <= len(conv.turns) else ""
        rationale = clauses.get(final) or (f"Not the case: {clauses['violated']}" if final == "followed" else "")
        return Finding(verdict=final, evidence=quote, evidence_status="verbatim" if quote else "none",
                       rationale=rationale, raw_output=" | ".join(raws), attempts=attempts, **common)

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
        heading = passages[0].heading.split(" > ")[-1]
        common = dict(rule_id=rule_id, guideline=heading, source=passages[0].source,
                      chunk_ids=tuple(p.chunk_id for p in passages), raw_output=raw, attempts=attempts)
        if answer is None:
            return Finding(verdict=UNDETERMINED, evidence="", evidence_status="none",
                           rationale="The model gave no usable answer; review by hand.", **common)
        quote = answer["evidence"].strip()
        status = "none" if not quote else "verbatim" if verify_quote(quote, conv) else "unsupported"
        return Finding(verdict=answer["verdict"], evidence=quote if status == "verbatim" else "", evidence_status=status,
                       rationale=answer["rationale"].strip(), **common)

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
        findings = []
        for i, (rule_id, group) in enumerate(groups):
            if progress:
                progress(i, len(groups))
            findings.append(self.judge(conv, rule_id, group))
        if progress:
            progress(len(groups), len(groups))
        retrieved_ids = {p.rule_id for p in passages if p.rule_id}
        not_retrieved = [r for r in self.retriever.rule_ids() if r not in retrieved_ids]
        return AuditReport(findings, passages, not_retrieved, self.generator.model_name,
                           time.perf_counter() - start, conv.conversation_id)
