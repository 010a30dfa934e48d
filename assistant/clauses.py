"""A guideline's verdict clauses, and what each one quantifies over.

Guidelines written for audits say when they are followed, violated or not applicable::

    - Followed: every agent reply in the conversation carries a signature.
    - Violated: at least one agent reply has no signature.

A small model judges one short reply far better than a whole conversation, so a clause that is about agent
replies becomes a question on each reply in its scope ("this reply carries a signature") and an aggregate:

    first / last   the agent's first or last reply
    any            at least one agent reply ("at least one agent reply ...", "an agent reply ...", "the agent asks ...")
    all            every agent reply ("every agent reply ...", "all agent replies ...")
    none           no agent reply ("no agent reply ...", "the agent promises no follow-up": no reply promises one);
                   "the customer reports no problem" is about the customer's messages, "neither side mentions ..."
                   about every message
    conversation   anything else (negations such as "the agent only ..."): asked about the whole conversation

The patterns are deliberately plain English; a clause they do not recognise is asked about the conversation,
which is what every clause was before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SCOPES = ("first", "last", "any", "all", "none", "conversation")

# "- Followed: ...", "Violated: ...", "* **Not applicable:** ...", "1. N/A: ..." lines of a guideline; a wrapped
# list item goes on over the indented lines after it that start no list item of their own
_KEYWORD = r"followed|violated|not[ _-]?applicable|n/a"
_CLAUSE_RE = re.compile(
    rf"^[ \t]*(?:(?:[-*+]|\d+[.)])[ \t]*)?(?:\*\*|__)?({_KEYWORD})[ \t]*:(?:\*\*|__)?[ \t]*"
    rf"(.+(?:\n[ \t]+(?![-*+][ \t]|\d+[.)][ \t]|(?:\*\*)?(?:{_KEYWORD})[ \t]*:)\S.*)*)$",
    re.IGNORECASE | re.MULTILINE)
_VERDICT_OF = {"followed": "followed", "violated": "violated"}
REPLY = r"(?:public\s+)?(?:repl(?:y|ies)|responses?|messages?|tweets?|answers?)"  # words for a message
_AGENT = r"(?:the\s+)?(?:agent(?:'s|s'|s)?\s+)?"
_IN_CONV = r"(?:\s+in\s+the\s+conversation)?"
_SCOPE_PATTERNS = (
    ("first", re.compile(rf"^{_AGENT}(?:first|opening|initial)\s+(?:agent\s+)?{REPLY}{_IN_CONV}\b", re.I)),
    ("last", re.compile(rf"^{_AGENT}(?:last|final|closing)\s+(?:agent\s+)?{REPLY}{_IN_CONV}\b", re.I)),
    ("all", re.compile(rf"^(?:every|each|all(?:\s+of\s+the)?|all\s+the)\s+(?:agent(?:'s)?\s+)?{REPLY}{_IN_CONV}\b", re.I)),
    ("none", re.compile(rf"^(?:no|none\s+of\s+the)\s+(?:agent(?:'s)?\s+)?{REPLY}{_IN_CONV}\b", re.I)),
    ("any", re.compile(rf"^(?:at\s+least\s+one|any|an?|one|some)(?:\s+of\s+the)?\s+(?:agent(?:'s)?\s+)?{REPLY}{_IN_CONV}\b", re.I)),
)
# "the agent <does something>" is about some reply, unless the sentence negates or restricts it
_AGENT_SUBJECT = re.compile(r"^the\s+agent\s+(?!'s\b)", re.I)
# "the agent promises no follow-up" = no reply promises any; "neither side mentions refunds" = no message does
_SPEAKER_NO = re.compile(r"^the\s+(agent|customer)\s+(?!'s\b)(.*?)\bno\s+(.+?)(?:\s+at\s+all)?$", re.I)
_NOBODY = re.compile(r"^(?:neither\s+side|nobody|no\s+one|no\s+message)\s+(.+)$", re.I)
_PARENTHESES = re.compile(r"\s*\([^)]*\)")
NEGATION = re.compile(r"\b(?:no|not|never|none|only|neither|nor|without)\b|n't\b", re.I)
# a scope that is restricted ("every reply that mentions a refund", "all replies except the first") or spread
# over time ("the agent is polite throughout") is left to a question about the whole conversation
_RESTRICTED = re.compile(r"^(?:that|which|who|whose|where|when|except|other\s+than|but|after|before|once|if|unless)\b", re.I)
_OVER_TIME = re.compile(r"\b(?:always|throughout|consistently|every\s+time|each\s+time|at\s+all\s+times)\b", re.I)
# plural verbs after "all replies ..." read as singular after "this reply ..."
_SINGULAR = {"are": "is", "have": "has", "do": "does", "were": "was", "contain": "contains", "carry": "carries",
             "include": "includes", "end": "ends", "give": "gives", "offer": "offers", "show": "shows", "use": "uses"}


@dataclass(frozen=True)
class Check:
    """One clause as a question: ``statement`` is asked of each reply in ``scope`` (or of the conversation)."""

    verdict: str  # followed | violated | not_applicable
    scope: str  # first | last | any | all | none | conversation
    statement: str  # "this reply ..." for reply scopes; the clause itself for the conversation
    clause: str  # the clause as written
    speaker: str = "agent"  # whose messages a reply scope ranges over: agent | customer | anyone
    generic: bool = False  # one of GENERIC_CLAUSES' questions, not the guideline's own words
    detector: str | None = None  # an exact detector that answers it (assistant.detectors), for questions about form


def parse_clauses(text: str) -> tuple[str, dict[str, str]]:
    """A guideline's description and its verdict clauses: ``{"followed"|"violated"|"not_applicable": text}``."""
    clauses = {_VERDICT_OF.get(m[1].lower(), "not_applicable"): " ".join(m[2].split()) for m in _CLAUSE_RE.finditer(text)}
    return _CLAUSE_RE.sub("", text).strip(), clauses


def _singular(rest: str) -> str:
    verb, _, tail = rest.partition(" ")
    return f"{_SINGULAR.get(verb.lower(), verb)} {tail}".strip()


def _speaker(scope_words: str) -> str:
    """Agent replies, unless the words name messages or tweets of anyone ("no message mentions ...")."""
    return "anyone" if "agent" not in scope_words.lower() and re.search(r"messages?|tweets?", scope_words, re.I) else "agent"


def to_check(verdict: str, clause: str) -> Check:
    """``clause`` with its scope recognised and, for reply scopes, restated about one reply."""
    text = " ".join(clause.split()).rstrip(".")
    conversation = Check(verdict, "conversation", text, clause)
    if _OVER_TIME.search(text):
        return conversation
    for scope, pattern in _SCOPE_PATTERNS:
        match = pattern.match(text)
        if match:
            rest = text[match.end():].strip(" ,")
            if _RESTRICTED.match(rest):
                return conversation
            speaker = _speaker(match[0])
            subject = "this reply" if speaker == "agent" else "this message"
            return Check(verdict, scope, f"{subject} {_singular(rest) if scope == 'all' else rest}", clause, speaker)
    if _AGENT_SUBJECT.match(text) and not NEGATION.search(text):
        return Check(verdict, "any", f"in this reply, {text[0].lower()}{text[1:]}", clause)
    if re.search(r"[\"\u201c\u201d]", text):  # quoted words ("says 'no problem'") are not to be rewritten
        return conversation
    nobody = _NOBODY.match(text)
    if nobody and not NEGATION.search(nobody[1]):
        return Check(verdict, "none", f"this message {_PARENTHESES.sub('', nobody[1])}", clause, speaker="anyone")
    no = _SPEAKER_NO.match(text)
    if no and not NEGATION.search(no[2] + " " + no[3]):  # one plain "no": the positive statement, for no message
        speaker = no[1].lower()
        positive = _PARENTHESES.sub("", f"{no[2]}any {no[3]}")
        where = "this reply" if speaker == "agent" else "this message"
        return Check(verdict, "none", f"in {where}, the {speaker} {positive}", clause, speaker=speaker)
    return conversation


# A guideline written as plain prose states no clauses: ask whether it applies at all, then whether it was followed.
GENERIC_CLAUSES = {
    "not_applicable": "the situation this guideline is about never comes up in the conversation",
    "followed": "the agent did what this guideline asks",
}


def checks_for(clauses: dict[str, str]) -> list[Check]:
    """The checks of a guideline's clauses, in the order they are decided: not applicable, violated, followed.
    What the guideline does not say (no clauses at all, or only when it does not apply) is asked with the
    generic questions of ``GENERIC_CLAUSES``, about the whole conversation."""
    if not {"followed", "violated"} & clauses.keys():
        followed = GENERIC_CLAUSES["followed"]
        na = (to_check("not_applicable", clauses["not_applicable"]) if "not_applicable" in clauses else
              Check("not_applicable", "conversation", GENERIC_CLAUSES["not_applicable"], "", generic=True))
        return [na, Check("followed", "conversation", followed, followed, generic=True)]
    return [to_check(v, clauses[v]) for v in ("not_applicable", "violated", "followed") if v in clauses]


_IRREGULAR = {"has": "have", "does": "do", "is": "be", "goes": "go"}


def _base(verb: str) -> str | None:
    """The base form of a third-person verb ("thanks" -> "thank", "carries" -> "carry"), or None."""
    word = verb.lower()
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) < 3 or not word.endswith("s") or word.endswith("ss") or not word.isalpha():
        return None
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("shes", "ches", "xes", "zes", "sses")):
        return word[:-2]
    return word[:-1]


def as_question(statement: str) -> str | None:
    """A reply check's statement as a direct question ("this reply thanks the customer" -> "Does this reply thank
    the customer?"); small models separate yes from no better on direct questions than on "is this statement
    true". None when the wording is not one of ours (the statement is then asked as it is)."""
    match = re.match(r"^(in this (?:reply|message), the (?:agent|customer)|this (?:reply|message)) (.+)$", statement)
    if not match:
        return None
    subject, rest = match[1], match[2].rstrip(".")
    words = rest.split(" ")
    adverb = [words.pop(0)] if len(words) > 1 and words[0].endswith("ly") else []
    verb = _base(words[0]) if words else None
    if verb is None:
        return None
    if subject.startswith("in "):
        where, who = subject.split(", ")
        head = f"{where[0].upper()}{where[1:]}, does {who}"
    else:
        head = f"Does {subject}"
    if verb == "be":
        return f"{'Is ' + subject if not subject.startswith('in ') else head.replace('does', 'is', 1)} {' '.join(adverb + words[1:])}?"
    return f"{head} {' '.join(adverb + [verb] + words[1:])}?"
