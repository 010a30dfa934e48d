"""How an audit check is answered and decided: the scorer seam, and the pure functions that turn the judge's
P(yes) per message into a verdict, its confidence and its evidence.

A check (assistant.clauses) asks one yes/no question of a message or of the conversation. The scorer answers it:
``ProbabilityScorer`` reads P(yes) from the next-token distribution (backends with ``choice_probabilities``),
``YesNoScorer`` asks for a constrained yes/no answer (1.0 or 0.0, no confidence). ``make_scorer`` picks one by
``AuditSettings.scorer``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Iterable, Protocol

from assistant.backends.base import GenerationParams, Generator
from assistant.clauses import NEGATION, Check
from assistant.config import SCORERS
from assistant.errors import ConfigError

YES_NO_SCHEMA = json.dumps({
    "type": "object", "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["answer"], "additionalProperties": False,
})


class Scorer(Protocol):
    """Answers a rendered yes/no check prompt."""

    graded: bool  # whether answers are probabilities (a confidence) rather than plain yes (1.0) / no (0.0)

    def p_yes(self, prompt: str) -> float | None:
        """P(yes) of ``prompt``'s question; None when the judge gave no usable answer."""


class ProbabilityScorer:
    """P(yes) from the judge's next-token distribution over "yes" and "no" (never unanswered)."""

    graded = True

    def __init__(self, generator: Generator) -> None:
        self.generator = generator

    def p_yes(self, prompt: str) -> float | None:
        """P(yes) as the model says it."""
        return self.generator.choice_probabilities(prompt, ("yes", "no"))[0]


class YesNoScorer:
    """A yes/no answer under a JSON-schema constraint, for backends without next-token probabilities."""

    graded = False

    def __init__(self, generator: Generator) -> None:
        self.generator = generator

    def p_yes(self, prompt: str) -> float | None:
        """1.0 for yes, 0.0 for no, None when the answer holds neither."""
        answer = parse_yes_no("".join(self.generator.stream(
            prompt, GenerationParams(max_new_tokens=12, json_schema=YES_NO_SCHEMA))))
        return None if answer is None else float(answer)


def make_scorer(generator: Generator, kind: str = "auto") -> Scorer:
    """The scorer ``kind`` (``AuditSettings.scorer``) over ``generator``; raises ConfigError when it cannot be."""
    has_probabilities = hasattr(generator, "choice_probabilities")
    if kind == "probabilities" and not has_probabilities:
        raise ConfigError(f"audit_scorer 'probabilities' needs a backend with next-token probabilities; "
                          f"{generator.model_name} on this backend has none: use audit_scorer yes_no or auto")
    if kind == "yes_no" or (kind == "auto" and not has_probabilities):
        return YesNoScorer(generator)
    if kind in ("auto", "probabilities"):
        return ProbabilityScorer(generator)
    raise ConfigError(f"audit_scorer {kind!r} is unknown: use one of {', '.join(SCORERS)}")


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
                "generic": self.check.generic, "detector": self.check.detector,
                "p": round(self.p, 6), "per_turn": {str(t): round(p, 6) for t, p in self.per_turn.items()},
                "conversation_p": None if self.conversation_p is None else round(self.conversation_p, 6)}


def debias(p: float, bias: float) -> float:
    """``p`` with ``bias`` subtracted from its logit (0 < p < 1; 0 and 1 stay)."""
    if not bias or not 0.0 < p < 1.0:
        return p
    return 1.0 / (1.0 + math.exp(bias - math.log(p / (1.0 - p))))


def value_bias(scope: str, n: int, bias: float, many: float = 0.0) -> float:
    """The yes-bias for each of ``n`` answers combined under ``scope``. Combining answers takes an extreme one (the
    least P(yes) for "all", the most otherwise), and the extreme of n noisy answers is extreme by chance alone: one
    polite reply scored low makes "every reply is courteous" fail, one ordinary message scored high makes a trigger
    fire. ``many`` moves each of several answers against that extreme: up for "all", down otherwise."""
    if n <= 1 or not many:
        return bias
    shift = many * math.log(n)  # the extreme of n answers: a false yes n times as likely (Bonferroni, on the logit)
    return bias - shift if scope == "all" else bias + shift


def debiased(scope: str, per_turn: dict[int, float], bias: float, many: float) -> dict[int, float]:
    """Each reply's P(yes) as ``aggregate`` counts it under ``scope`` (``value_bias``)."""
    b = value_bias(scope, len(per_turn), bias, many)
    return {t: debias(v, b) for t, v in per_turn.items()}


def aggregate(scope: str, values: list[float], bias: float = 0.0, many: float = 0.0) -> float:
    """P(the clause holds) from its per-reply P(yes): the least for "all", none of them for "none", the most
    otherwise (any reply; first/last and conversation have one value); each debiased (``value_bias``)."""
    b = value_bias(scope, len(values), bias, many)
    values = [debias(v, b) for v in values]
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
    if p.get("not_applicable", 0.0) >= 0.5 or not {"violated", "followed"} & p.keys():
        # (no requirement answered: a run re-decided under another bias whose requirement was never asked because
        # the rule did not apply)
        return "not_applicable", p.get("not_applicable", 0.5)
    if "violated" in p and "followed" in p:  # each answer counts for its verdict and against the other
        violated = (p["violated"] + 1.0 - p["followed"]) / 2
    else:
        violated = p["violated"] if "violated" in p else 1.0 - p["followed"]
    return ("violated", violated) if violated >= 0.5 else ("followed", 1.0 - violated)


def trigger_biased(verdict: str, generic: bool, p: float, trigger: float) -> float:
    """P(a clause holds) as decided: for a rule's trigger (its not-applicable clause) ``trigger`` added to the logit
    (``AuditSettings.trigger_bias``), since a judge that sees the rule's situation in most messages makes a triggered
    rule fire where it does not apply; other clauses and a prose guideline's generic questions as they are. The
    auditor and ``redecide`` both decide through it."""
    return debias(p, -trigger) if verdict == "not_applicable" and not generic else p


def shown_by_requirement(p: dict[str, float], exact: Iterable[str]) -> bool:
    """Whether a rule that its trigger found not applicable applies after all, because an exact detector (``exact``:
    the verdicts whose check a detector answered) found the agent doing what the rule requires. A rule "when X,
    do Y" is followed where Y is done: an agent moves a conversation to DM because the matter needs account
    details, apologises because something went wrong. Only the followed check, and only a detector's answer: doing
    what a rule forbids shows nothing of its situation, and a model's yes to a requirement whose situation it did
    not see is no evidence (on the dev sets it broke as many verdicts as it corrected)."""
    return p.get("not_applicable", 0.0) >= 0.5 and "followed" in exact and p.get("followed", 0.0) >= 0.5


def redecide(checks: list[dict], bias: float, many: float = 0.0, trigger: float = 0.0) -> tuple[str, float]:
    """The verdict a finding's recorded checks (``Finding.checks``) give under another ``yes_bias``,
    ``many_bias`` and ``trigger_bias``: calibrating them on a labelled set needs no second run of the model."""
    p = {}
    for c in checks:
        values = list(c["per_turn"].values()) if c["per_turn"] else [c["conversation_p"]]
        generic = c.get("generic")
        p[c["verdict"]] = trigger_biased(c["verdict"], bool(generic), aggregate(
            c["scope"] if c["per_turn"] else "conversation", values, 0.0 if generic else bias, 0.0 if generic else many),
            trigger)
    if shown_by_requirement(p, [c["verdict"] for c in checks if c.get("detector")]):
        p["not_applicable"] = 0.0
    return decide(p)


def evidence_turn(verdict: str, results: dict[str, CheckResult], bias: float = 0.0, many: float = 0.0) -> int | None:
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
        p = debiased(scope, result.per_turn, bias, many)
        if want_yes:
            turn = max(p, key=p.get)
            if p[turn] >= 0.5:
                return turn
        elif want_no:
            turn = min(p, key=p.get)
            if p[turn] < 0.5:
                return turn
    return None


def closest_turn(results: dict[str, CheckResult], bias: float = 0.0, many: float = 0.0) -> int | None:
    """For a violation that rests on an absence ("no reply gives a timeframe"): the message in the requirement's scope
    that came closest to meeting it, so the reviewer reads what the agent did write instead. The requirement is the
    followed clause asked of "any" reply, or the violated clause asked of "none" (violated when no reply does it);
    its highest P(yes) is the closest message. None when the rule was not asked that way."""
    for verdict, scope in (("followed", "any"), ("violated", "none")):
        result = results.get(verdict)
        if result is not None and result.per_turn and result.check.scope == scope:
            p = debiased(scope, result.per_turn, bias, many)
            return max(p, key=p.get)
    return None


def trail(results: Iterable[CheckResult]) -> str:
    """The checks' probabilities for the audit trail: ``violated(any)=0.81 [t2 0.81, t4 0.12]``."""
    parts = []
    for r in results:
        turns = ", ".join(f"t{t + 1} {p:.2f}" for t, p in r.per_turn.items())
        parts.append(f"{r.check.verdict}({r.check.scope})={r.p:.2f}" + (f" [{turns}]" if turns else ""))
    return " | ".join(parts)


def parse_yes_no(text: str) -> bool | None:
    """``{"answer": "yes"|"no"}`` (or a bare yes/no) as a bool; None if unusable."""
    found = re.search(r"\b(yes|no)\b", text, re.IGNORECASE)
    return None if found is None else found[1].lower() == "yes"
