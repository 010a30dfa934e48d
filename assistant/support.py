"""Does the conversation support each sentence of its summary? A check for summaries a manager can trust.

ROUGE cannot tell a faithful summary from a fluent invention. The commonest error our hand labels found in real
summaries is content given to the wrong party (the customer's complaint told as the agent's suggestion), then
inventions. So each sentence's claims ("the customer ...", "the agent ...": ``claims``) are checked against what
that party actually wrote: a claim's sentence embedding against each cleaned message's (all-MiniLM-L6-v2, the
knowledge base's embedder), the claimed party's best match minus the other party's (``attribution_scores``). A claim
that matches the other party's words better scores low; a sentence that names no party is not checked.

Measured on hand-labelled sentences (``eval/support_dev``, ``python -m eval.support``): AUC 0.80 on the test half,
against 0.62 for the 1.5B language model asked by next-token P(yes) (that scorer, and a cross-encoder trained for
it that never learned, are in git history; the README cites the commits), in a fraction of a second per summary. It
does not see a planted negation or a swapped name: it checks who said what, not what exactly was said.

A sentence scoring below ``threshold`` is *doubted*: the app marks it and ``summarize --json`` lists it. The
threshold was chosen on the dev half of the hand-labelled sentences; ``eval.support`` reports the other half.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from typing import Sequence

from assistant.cleaning import clean_conversation
from assistant.config import SUPPORT_THRESHOLD
from assistant.conversation import Conversation

# A sentence ends at . ! or ? followed by a space and a capital, a digit or a quote; abbreviations such as "e.g."
# or "Mr." and decimals ("2.5") do not end one.
_END = re.compile(r"[.!?][\"')\]]*(?=\s+[\"'(\[]?[A-Z0-9])")
_NOT_AN_END = re.compile(r"\b(?:e\.g|i\.e|vs|Mr|Mrs|Ms|Dr|St|approx)\.$")
_NUMBER_ABBREVIATION = re.compile(r"\b[Nn]o\.$")  # "order no. 123": an end only when no digit follows


def split_sentences(text: str) -> list[str]:
    """The sentences of a summary, in order, whitespace trimmed: a line break always ends one, and a line without an
    end mark is one sentence."""
    out: list[str] = []
    for line in text.splitlines():
        line = " ".join(line.split())
        start = 0
        for m in _END.finditer(line):
            piece = line[start:m.end()].strip()
            if _NOT_AN_END.search(piece) or (_NUMBER_ABBREVIATION.search(piece) and line[m.end():].lstrip()[:1].isdigit()):
                continue
            out.append(piece)
            start = m.end()
        out.append(line[start:].strip())
    return [s for s in out if s]


# A clause that names a party ("the customer ...", "the agent ..."); a sentence "The customer asked X, but the agent
# said Y" is two claims, each checked against its own party's messages. "Customer service / support / care" is the
# company's side, never the customer.
_PARTIES = (r"customer\s+(?:service|support|care)(?:\s+(?:team|desk|agents?))?|customer|client|user|agent|"
            r"representative|rep|support|staff|team")
_PARTY = re.compile(rf"\b(?:the\s+)?({_PARTIES})\b", re.I)
_CLAUSES = re.compile(rf",?\s+(?:but|and|while|whereas|so|then|and then)\s+(?=(?:the\s+)?(?:{_PARTIES})\b)|;\s*", re.I)
_CUSTOMER_WORDS = ("customer", "client", "user")
_COMPANY_SPEAKERS = ("agent", "bot")  # what a bot or a system notice says is the company's side too
# Words that say who did what, not what was done: a claim needs two other words to be checked.
_FILLER = frozenset(
    "the a an to of and or but in on at for with that this is was were be been it its their they them he she his her "
    "customer agent customers agents also wanted want asked asks suggested suggests mentioned mentions said says told "
    "tells updated update informed informs if as by from not no so do did does can could would will there what why how "
    "about has have had are i you we our your my me us".split())


def _content_words(text: str) -> set[str]:
    return {re.sub(r"(?:ing|ed|es|s|ly)$", "", w) for w in re.findall(r"[a-z0-9']+", text.lower())
            if w not in _FILLER and len(w) > 2}


def claims(sentence: str) -> list[tuple[str, str]]:
    """(party, what the sentence says that party said or did) for each clause of ``sentence`` that names the
    customer or the agent and says something (two content words or more)."""
    out = []
    for part in _CLAUSES.split(sentence):
        m = _PARTY.search(part)
        if m is None:
            continue
        said = part[m.end():]
        if len(_content_words(said)) >= 2:
            out.append(("customer" if m.group(1).lower() in _CUSTOMER_WORDS else "agent", said))
    return out


def attribution_scores(conv: Conversation, sentences: Sequence[str], embedder) -> list[float | None]:  # noqa: ANN001
    """For each sentence, how well what it gives each party matches that party's own messages rather than the
    other's: its claims' embeddings against the cleaned messages' (cosine), the claimed party's best match minus the
    other party's best, the worst claim's margin mapped to [0, 1]. A claim given to the wrong party scores low; one
    that matches nobody's words scores near 0.5, so an invention is doubted only when it borrows the other party's
    words. None: nothing to check (the sentence names no party, or the conversation has no message of the two
    parties after cleaning)."""
    turns = [("customer" if t.speaker == "customer" else "agent", t.text) for t in clean_conversation(conv).turns
             if t.speaker == "customer" or t.speaker in _COMPANY_SPEAKERS]
    found = [claims(s) for s in sentences]
    said = [text for cs in found for _, text in cs]
    if {party for party, _ in turns} != {"customer", "agent"} or not said:
        return [None] * len(sentences)
    vectors = embedder.embed([text for _, text in turns] + said)
    sims = iter((vectors[len(turns):] @ vectors[:len(turns)].T).tolist())
    scores: list[float | None] = []
    for cs in found:
        margins = []
        for party, _ in cs:
            best = {"customer": 0.0, "agent": 0.0}
            for (speaker, _), sim in zip(turns, next(sims)):
                best[speaker] = max(best[speaker], sim)
            margins.append(best[party] - best["agent" if party == "customer" else "customer"])
        scores.append((1 + min(margins)) / 2 if margins else None)
    return scores


@dataclass(frozen=True)
class SentenceSupport:
    """One summary sentence, its support score (``attribution_scores``; None: nothing in it to check) and whether the
    check doubts it."""

    sentence: str
    support: float | None
    doubted: bool

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return asdict(self)


@dataclass(frozen=True)
class SupportReport:
    """A summary's support check: its sentences, or why it was not checked (``skipped``)."""

    model: str
    threshold: float
    sentences: tuple[SentenceSupport, ...] = ()
    skipped: str | None = None

    @property
    def doubted(self) -> list[SentenceSupport]:
        """The sentences the check doubts."""
        return [s for s in self.sentences if s.doubted]

    @property
    def checked(self) -> list[SentenceSupport]:
        """The sentences the check could score (those naming the customer or the agent)."""
        return [s for s in self.sentences if s.support is not None]

    def to_dict(self) -> dict:
        """JSON-serialisable form (what ``summarize --json`` prints under ``support``)."""
        return {"model": self.model, "threshold": self.threshold, "skipped": self.skipped,
                "sentences": [s.to_dict() for s in self.sentences]}


class SupportChecker:
    """The support check: ``check`` scores a summary's sentences (``attribution_scores``) with ``embedder`` (an
    ``knowledge_base.embedder.Embedder``), doubting those below ``threshold`` (None: ``SUPPORT_THRESHOLD``, chosen
    on the dev half of eval/support_dev)."""

    #: Bump when the scoring changes: cached scores of another version are not reused.
    VERSION = "attribution-2"

    def __init__(self, embedder, threshold: float | None = None) -> None:  # noqa: ANN001 - an Embedder
        self.embedder = embedder
        self.threshold = SUPPORT_THRESHOLD if threshold is None else threshold

    @property
    def name(self) -> str:
        """What scores the check, for reports: the method and its embedder."""
        return f"{self.VERSION} ({self.embedder.name})"

    @property
    def fingerprint(self) -> str:
        """What a cached score depends on besides the sentence and its conversation: the method (its version and
        patterns) and the embedder (its vector of a probe text, to three decimals, so another model under the same
        name is another check). Not the threshold."""
        import numpy as np

        probe = np.rint(self.embedder.embed(["the agent asked for the order number"]) * 1e3).astype(np.int16)
        method = "|".join((self.VERSION, _PARTY.pattern, _CLAUSES.pattern, ",".join(sorted(_FILLER))))
        return f"{self.name}|{hashlib.sha256(method.encode() + probe.tobytes()).hexdigest()[:12]}"

    def check(self, conv: Conversation, summary: str) -> SupportReport:
        """Each sentence of ``summary`` with its support score (the conversation embedded once), doubted below the
        threshold."""
        sentences = split_sentences(summary)
        scores = attribution_scores(conv, sentences, self.embedder)
        return SupportReport(self.name, self.threshold, tuple(
            SentenceSupport(text, None if score is None else round(score, 4), score is not None and score < self.threshold)
            for text, score in zip(sentences, scores)))


def marked(summary: str, found: Sequence[SentenceSupport]) -> str:
    """The summary with each doubted sentence followed by its support score in brackets (for the app's chat)."""
    pieces = [f"{s.sentence} [? support {s.support:.2f}]" if s.doubted else s.sentence for s in found]
    return " ".join(pieces) if found else summary
