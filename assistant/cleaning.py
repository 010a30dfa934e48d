"""Text cleaning shared by summarization, training and evaluation.

Follows the seed recipe: remove URLs, ``@handles`` and agent signatures (``^JK`` and the ``*TM`` /
``-Name`` sign-offs that TweetSumm's brands use), decode HTML entities (``&amp;``), normalise
whitespace. Optional redaction replaces e-mails, phone numbers and card-like numbers with tags.

Audits must NOT use this: they judge what the agent actually wrote, signatures and links included.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace

from assistant.conversation import Conversation

_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE_RE = re.compile(r"(?<![\w@])@\w{1,30}")
# ``^JK`` / ``^Rachel`` anywhere (a turn can join several tweets, each signed); no space after ``^``.
_CARET_SIG_RE = re.compile(r"(?<!\S)\^[A-Za-z]{1,12}\b")
# ``*TM`` (2-4 capitals) anywhere, but not ``*NOT*``: a closing star makes it emphasis.
_STAR_SIG_RE = re.compile(r"(?<!\S)\*[A-Z]{2,4}\b(?!\*)")
# ``-Andy`` / ``- JW`` only at the very end of a turn: mid-text a dash is punctuation.
_DASH_SIG_RE = re.compile(r"\s[-\u2013\u2014]\s?[A-Z][A-Za-z]{0,11}\s*$")
_SPACE_RE = re.compile(r"[ \t\u00a0]+")
_ZERO_WIDTH_RE = re.compile("[\u200b-\u200d\u2060\ufeff]")
_SPACE_BEFORE_PUNCT_RE = re.compile(r" +([,.!?;:])")

_EMAIL_RE = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_CARD_RE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
# A phone number: an optional +country code, then 3 digit groups separated by space, dot or dash (or an
# area code in parentheses). A solid digit run (order, account numbers) is never matched, nor a group
# inside a longer digit run, nor a dotted IP address.
_PHONE_RE = re.compile(
    r"(?<![\w+.])(?<!\d[ .-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]\d{3,4}(?![ .-]?\d)(?!\.\d)"
)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def redact_pii(text: str) -> str:
    """Replace e-mails with ``[EMAIL]``, card numbers (Luhn-valid, 13-19 digits) with ``[CARD]``, phones with ``[PHONE]``."""
    text = _EMAIL_RE.sub("[EMAIL]", text)

    def card(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        return "[CARD]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else m.group(0)

    text = _CARD_RE.sub(card, text)
    return _PHONE_RE.sub("[PHONE]", text)


def clean_text(text: str, *, redact: bool = False, signatures: bool = True) -> str:
    """Clean one turn's text as the seed recipe does; optionally redact PII. Pure function.

    ``signatures=False`` keeps ``^JK``/``*TM``/``-Name`` forms (customer turns: only agents sign).
    """
    text = html.unescape(html.unescape(text))  # TweetSumm has double-escaped entities (&amp;gt;)
    text = _ZERO_WIDTH_RE.sub("", text)
    text = _URL_RE.sub(" ", text)
    if redact:
        text = redact_pii(text)  # before handle removal, so e-mail addresses are not half-eaten
    text = _HANDLE_RE.sub(" ", text)
    if signatures:
        text = _CARET_SIG_RE.sub(" ", text)
        text = _STAR_SIG_RE.sub(" ", text)
        text = _DASH_SIG_RE.sub("", text)
    lines = [_SPACE_RE.sub(" ", line).strip() for line in text.splitlines()]
    text = " ".join(line for line in lines if line)
    return _SPACE_BEFORE_PUNCT_RE.sub(r"\1", text).strip()


def clean_conversation(conv: Conversation, *, redact: bool = False) -> Conversation:
    """Clean every turn (signatures only in agent turns); turns left empty (a bare link or handle) are dropped.
    Names and times stay with their turns."""
    turns = tuple(
        replace(t, text=c) for t in conv.turns
        if (c := clean_text(t.text, redact=redact, signatures=t.speaker == "agent"))
    )
    return replace(conv, turns=turns)
