"""Chat transcripts: one message per speaker label or name, with optional timestamps.

Layouts (a paste uses one; which one is set by its first message line):

- ``plain``:    ``Customer: text``, ``John Smith: text``, ``Sarah (Support): text``, ``**Agent:** text``,
                the official TweetSumm processor's ``\\tCustomer:\\ttext``;
- ``bracket``:  ``[10:32 AM] John Smith: text``, ``(10:32:05) Visitor 12: text`` (LiveChat, Zendesk Chat
                and Intercom text exports), optionally with a date: ``[2024-03-12 10:32] John: text``;
- ``clock``:    ``10:32 John Smith: text``, ``10:32 pm - agent: text``, ``2024-03-12 10:32:05 John: text``;
- ``name-line``: ``John Smith - 10:32`` (or ``John Smith 10:32 AM``) alone, the message on the lines below
                (Slack-style copies);
- ``time-line``: ``[10:32 AM] John Smith`` alone, the message on the lines below (Teams-style copies).

A speaker is a role label (customer/user/visitor..., agent/support/operator..., bot, system, optionally
followed by a name: ``Agent Sarah``), or a person's name of one to four capitalised words, optionally with
a role hint in parentheses (``Sarah (Support)``). Lines that are not message lines continue the message
above (multi-line messages). A line that is a message line of another layout (``Sarah: hi`` inside a
timestamped export, a WhatsApp line) is a mismatch: the paste mixes layouts and is not guessed at.
Up to ``MAX_PREAMBLE_LINES`` lines before the first message (an export's title, "Chat started ...") are kept
as a ``system`` message; more is a mismatch.
"""

from __future__ import annotations

import re
from typing import Callable

from assistant.formats.base import DATE, ROLE_ALIASES, TIME, FormatMismatch, Message, Parsed, Role, first_message_line

FORMAT = "chat"
MAX_PREAMBLE_LINES = 5

# A speaker starts and ends with a non-space, so the spaces around it can be read one way only (no backtracking
# blow-up on lines of spaces).
_SPK = r"(?P<speaker>[^\s:\[\]](?:[^:\[\]\n]{0,58}?[^\s:\[\]])?)"
_BOLD = r"(?:\*\*|__)?"
_STAMP = rf"(?P<time>(?:{DATE}[,T]?\s*)?{TIME})"
LAYOUTS: dict[str, re.Pattern[str]] = {
    "bracket": re.compile(rf"^\s*[\[(]{_STAMP}[\])]\s*[-–]?\s*{_BOLD}{_SPK}\s*{_BOLD}\s*[:：]\s*{_BOLD}\s*(?P<text>.*)$"),
    "clock": re.compile(rf"^\s*{_STAMP}\s*[-–|]?\s*{_BOLD}{_SPK}\s*{_BOLD}\s*[:：]\s*{_BOLD}\s*(?P<text>.*)$"),
    "plain": re.compile(rf"^\s*{_BOLD}{_SPK}\s*{_BOLD}\s*[:：]\s*{_BOLD}\s*(?P<text>.*)$"),
    "name-line": re.compile(rf"^\s*{_SPK}\s*(?:[-–—|•·,]\s*|\s+)[\[(]?{_STAMP}[\])]?\s*$"),
    "time-line": re.compile(rf"^\s*[\[(]{_STAMP}[\])]\s*[-–]?\s*{_SPK}\s*$"),
}
_TIMESTAMPED = ("bracket", "clock", "name-line", "time-line")
# Words that end in a colon at the start of a line without being a speaker ("Note: I restarted it").
_NOT_SPEAKERS = frozenset(
    "note notes ps p.s update edit subject re fwd order account address email e-mail phone tel mobile tracking "
    "reference ref error step question answer date time total price name id ticket case link url status reason "
    "example warning important nb tip hint summary issue problem solution result from to cc bcc sent attachment "
    "attachments file item product amount invoice steps option details version model serial see link pic photo "
    "screenshot image here thanks thank hi hello hey ok okay yes no btw fyi also but and so web website fax "
    "office hours monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday".split()
)
_PARTICLES = frozenset("de da del della der den di du la le van von bin al el y dos das".split())
_WORD_RE = re.compile(r"^[^\W\d_][\w.'’-]*$|^\d{1,6}$")
_USER_WORD_RE = re.compile(r"^(?=.*[^\W\d])[\w.@'’+-]+$")
_HINT_RE = re.compile(r"^(?P<name>.*?)\s*[(\[](?P<hint>[^)\]]{1,30})[)\]]$")
_WHATSAPP_RE = re.compile(rf"^\s*(?:\[{DATE},\s*{TIME}\]|{DATE},\s*{TIME}\s+[-–])")


def read_speaker(raw: str, strict: bool = True) -> tuple[str | None, Role | None, str] | None:
    """``(name, role, reason)`` for a speaker field, or None when it is not a speaker (a sentence, a URL...).

    ``strict``: a name is capitalised words ("John Smith"); otherwise (behind a timestamp, which is evidence
    enough) user names such as ``jsmith`` or ``sarah_support`` count too.

    >>> read_speaker("Sarah (Support)")
    ('Sarah', 'agent', 'labelled "(Support)"')
    """
    raw = raw.strip().strip("*_").strip()
    role, reason, hint = None, "", _HINT_RE.match(raw)
    if hint:
        role = ROLE_ALIASES.get(hint["hint"].strip().lower())
        reason = f'labelled "({hint["hint"].strip()})"' if role else ""
        raw = hint["name"].strip()
    if not raw:
        return None
    if raw.lower() in ROLE_ALIASES:  # a bare label: Customer, Visitor, Operator, Bot, System
        return None, role or ROLE_ALIASES[raw.lower()], reason or f'labelled "{raw}"'
    words = raw.split()
    first = words[0].lower()
    if first in ROLE_ALIASES and len(words) <= 3 and all(w[0].isupper() or w.isdigit() for w in words[1:]):
        name = raw if words[1].isdigit() else " ".join(words[1:])  # "Agent Sarah" -> Sarah; "Visitor 4821" stays
        return name, role or ROLE_ALIASES[first], reason or f'labelled "{words[0]}"'
    if not (_is_name(words) if strict else _is_user_name(words)):
        return None
    return raw, role, reason


def _is_user_name(words: list[str]) -> bool:
    """One token such as ``jsmith`` or ``sarah_support`` (several lower-case words are more likely a sentence)."""
    if len(words) > 1:
        return _is_name(words)
    word = words[0]
    return len(word) <= 40 and word.lower().strip(".") not in _NOT_SPEAKERS and bool(_USER_WORD_RE.match(word))


def _is_name(words: list[str]) -> bool:
    if not 1 <= len(words) <= 4 or len(" ".join(words)) > 40 or words[0].lower().strip(".") in _NOT_SPEAKERS:
        return False
    if not words[0][0].isupper():
        return False
    return all(_WORD_RE.match(w) and (w[0].isupper() or w.isdigit() or w.lower() in _PARTICLES) for w in words)


#: A message line read: (name, role, reason, time, text).
Header = tuple[str | None, Role | None, str, str | None, str]
#: The message being read: (name, role, reason, time, line number).
_Open = tuple[str | None, Role | None, str, str | None, int]


def header(line: str, layout: str) -> Header | None:
    """``(name, role, reason, time, text)`` when ``line`` is a message line of ``layout``, else None."""
    m = LAYOUTS[layout].match(line)
    if not m:
        return None
    speaker = read_speaker(m["speaker"], strict=layout == "plain")
    if speaker is None:
        return None
    groups = m.groupdict()
    return (*speaker, groups.get("time"), (groups.get("text") or "").strip())


def first_header(line: str) -> str | None:
    """The layout whose message line ``line`` is (timestamped layouts first), else None."""
    if _WHATSAPP_RE.match(line):
        return None
    return next((layout for layout in (*_TIMESTAMPED, "plain") if header(line, layout)), None)


def parse(lines: list[str]) -> Parsed:
    """Read chat lines (the paste's lines, 1-based in errors) into messages; raises FormatMismatch."""
    start, preamble = first_message_line(lines, FORMAT, first_header, "has no speaker label or name", MAX_PREAMBLE_LINES)
    layout = first_header(lines[start])
    messages: list[Message] = []
    if preamble:
        messages.append(Message("\n".join(preamble), role="system", reason="text before the first message", line=1))
    accept = _speaker_filter(lines[start:], layout)
    names: set[str] = set()
    current: _Open | None = None
    body: list[str] = []
    for i in range(start, len(lines)):
        line = lines[i]
        h = header(line, layout)
        if h is not None and not accept(h):
            h = None
        if h is None:
            _check_continuation(line, i + 1, layout, names)
            body.append(line.strip())
            continue
        _flush(messages, current, body)
        name, role, reason, time, text = h
        current, body = (name, role, reason, time, i + 1), [text]
        names.add((name or "").lower())
    _flush(messages, current, body)
    return Parsed(FORMAT, tuple(messages), meta={"layout": layout})


def _speaker_filter(lines: list[str], layout: str) -> Callable[[Header], bool]:
    """Which message lines start a message. In a plain transcript that uses role labels (``Customer:``), a
    bare name (``NRC App Version: 5.1``) starts one only if it occurs twice: once is more likely a line of text."""
    if layout != "plain":
        return lambda h: True
    heads = [h for line in lines if (h := header(line, layout))]
    if not any(h[0] is None and h[1] is not None for h in heads):
        return lambda h: True
    counts: dict[str, int] = {}
    for h in heads:
        counts[h[0] or ""] = counts.get(h[0] or "", 0) + 1
    return lambda h: h[1] is not None or counts.get(h[0] or "", 0) >= 2


def _check_continuation(line: str, line_no: int, layout: str, names: set[str]) -> None:
    """A continuation line must not be a message line of another layout."""
    if _WHATSAPP_RE.match(line):
        raise FormatMismatch(FORMAT, line_no, line, f"is a WhatsApp line inside a {layout} chat")
    for other in (*_TIMESTAMPED, "plain"):
        if other == layout:
            continue
        h = header(line, other)
        known = h is not None and ((h[0] or "").lower() in names or (h[0] is None and h[1] is not None))
        if h and (other in _TIMESTAMPED or (layout in _TIMESTAMPED and known)):
            raise FormatMismatch(FORMAT, line_no, line, f"is a {other} message line inside a {layout} chat")


def _flush(messages: list[Message], current: _Open | None, body: list[str]) -> None:
    if current is None:
        return
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(body)).strip()
    if text:
        name, role, reason, time, line_no = current
        messages.append(Message(text, name=name, role=role, reason=reason, time=time, line=line_no))
