"""Readers for the transcript formats support teams export, and the fixed order in which they are tried.

Detection never guesses between formats:

1. **JSON** (``helpdesk.py``): the paste starts with ``{`` or ``[`` *and* ``json.loads`` accepts it. Then it
   must be one of the known shapes, or the error says so. (``[10:32 AM] John:`` is not JSON: it goes on.)
2. Otherwise the **first line that is a message line** of some format decides the format. Each line is
   checked, in this order, for: a WhatsApp line (``whatsapp.py``), the start of an e-mail (``email.py``:
   a ``From:`` header block, ``-----Original Message-----``, ``On ... wrote:``), a timestamped chat line
   (``chat.py``: ``[10:32] Name:``, ``10:32 Name:``, ``Name - 10:32``, ``[10:32] Name``), an @handle tweet (``twitter.py``, the
   first line only), a plain ``Label:`` / ``Name:`` chat line.
3. That format reads the whole paste. A line it cannot place raises ``FormatMismatch`` naming the format,
   the line number and the line; nothing falls through to a more permissive format.
4. No message line anywhere: ``NoFormat`` (or the JSON decoding error when the paste starts like JSON).

Roles for named speakers are decided afterwards by ``roles.infer_roles``, the same way for every format.
"""

from __future__ import annotations

import json
import re

from assistant.formats import chat, email, helpdesk, twitter, whatsapp
from assistant.formats.base import ACCEPTED_FORMATS, FormatMismatch, Message, Parsed

__all__ = ["ACCEPTED_FORMATS", "FORMAT_NAMES", "FormatMismatch", "Message", "NoFormat", "Parsed", "detect", "read"]

#: How error messages name each format.
FORMAT_NAMES = {
    "chat": "a chat transcript (speaker labels or names)", "whatsapp": "a WhatsApp export",
    "email": "an e-mail thread", "twitter": "a Twitter thread (@handle lines)", "json": "JSON",
    "json-turns": "a JSON list of turns", "tweetsumm": "a TweetSumm record", "zendesk": "Zendesk ticket comments",
    "intercom": "an Intercom conversation", "freshdesk": "Freshdesk conversations",
}


class NoFormat(Exception):
    """No line of the paste is a message line of any format; ``json_error`` when it starts like JSON.

    ``closest``: the format the paste most resembles, with the line that resembles it and why it is not one
    of that format's lines (None when nothing resembles any format); else ``line`` is the first line.
    """

    def __init__(self, line_no: int, line: str, json_error: json.JSONDecodeError | None = None,
                 closest: tuple[str, str] | None = None) -> None:
        self.line_no, self.line, self.json_error, self.closest = line_no, line, json_error, closest
        super().__init__(f"no format: line {line_no}: {line!r}")


# Lines that look like an attempt at a format without being one of its message lines.
_LOOKS_LIKE = (
    ("whatsapp", re.compile(r"^\s*\[?\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}"), "has a date but not WhatsApp's 'date, time - Name:'"),
    ("email", re.compile(r"^\s*(?:from|to|subject|date|sent)\s*:", re.I), "is a header without a From: block around it"),
    ("chat", re.compile(r"^\s*\S[^:]{0,40}:\s"), "has a colon, but what comes before it is not a speaker label or name"),
)


def closest(lines: list[str]) -> tuple[int, str, str, str] | None:
    """``(line number, line, format, why)`` for the first line that resembles a format, else None."""
    for i, line in enumerate(lines):
        for fmt, pattern, why in _LOOKS_LIKE:
            if pattern.match(line):
                return i + 1, line, fmt, why
    return None


def detect(lines: list[str]) -> str | None:
    """The name of the text format whose message line comes first in ``lines`` (see the module docstring)."""
    first = next((i for i, x in enumerate(lines) if x.strip()), None)
    if first is None:
        return None
    for i in range(first, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        if whatsapp.layout_of(line):
            return whatsapp.FORMAT
        if email.is_email_line(lines, i):
            return email.FORMAT
        layout = chat.first_header(line)
        if layout and layout != "plain":
            return chat.FORMAT
        if i == first and twitter.leading_handles(line):
            return twitter.FORMAT
        if layout:
            return chat.FORMAT
    return None


_READERS = {chat.FORMAT: chat.parse, whatsapp.FORMAT: whatsapp.parse, email.FORMAT: email.parse,
            twitter.FORMAT: twitter.parse}


def read(text: str) -> Parsed:
    """Read a paste in whichever format it is in; raises FormatMismatch, NoFormat or InvalidConversation."""
    stripped = text.strip()
    json_error = None
    if stripped[:1] in ("{", "["):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            json_error = exc
        else:
            return helpdesk.parse_json(data)
    lines = text.splitlines()
    fmt = detect(lines)
    if fmt is None:
        near = closest(lines)
        if near:
            raise NoFormat(near[0], near[1], json_error, (near[2], near[3]))
        first = next((i for i, x in enumerate(lines) if x.strip()), 0)
        raise NoFormat(first + 1, lines[first] if lines else "", json_error)
    return _READERS[fmt](lines)
