"""What every format parser returns, and the pieces several of them share.

A parser turns a paste into ``Message`` records: the text, the speaker's name as written, and a role only
when the format itself states it (a ``Customer:`` label, Zendesk's user role). Roles for names are decided
afterwards, in one place (``assistant.formats.roles``), so every format infers them the same way.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

Role = Literal["customer", "agent", "bot", "system"]
ROLES: tuple[Role, ...] = ("customer", "agent", "bot", "system")

#: Words that name a role rather than a person, in labels (``Visitor:``), JSON role fields and CSV columns.
ROLE_ALIASES: dict[str, Role] = {
    "customer": "customer", "user": "customer", "client": "customer", "caller": "customer",
    "consumer": "customer", "human": "customer", "cust": "customer", "visitor": "customer",
    "end-user": "customer", "end_user": "customer", "enduser": "customer", "requester": "customer",
    "contact": "customer", "lead": "customer", "guest": "customer",
    "agent": "agent", "support": "agent", "assistant": "agent", "rep": "agent", "admin": "agent",
    "representative": "agent", "advisor": "agent", "operator": "agent", "staff": "agent",
    "bot": "bot", "chatbot": "bot", "virtual assistant": "bot", "automated": "bot",
    "system": "system",
}


@dataclass(frozen=True)
class Message:
    """One message as read from a paste, before roles are decided for names."""

    text: str
    name: str | None = None    # the speaker as written ("John Smith", "Acme Support"); None for bare labels
    role: Role | None = None   # set only when the format states it; None: inferred from the name
    reason: str = ""           # why ``role`` was set (shown to the user next to the inferred roles)
    time: str | None = None    # the timestamp as written
    address: str | None = None  # e-mail address of the sender, evidence for the role
    line: int = 0              # 1-based line of the paste where the message starts (0: not line-based)
    replies_to: str | None = None  # for a message without a sender: the name of the sender it answers


@dataclass(frozen=True)
class Parsed:
    """A paste read by one format: its messages in conversation order (oldest first)."""

    format: str
    messages: tuple[Message, ...]
    conversation_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


class FormatMismatch(Exception):
    """A paste that was recognised as ``format`` has a line that fits none of that format's layouts.

    Internal to the parsers; ``parse_conversation`` turns it into an ``InvalidConversation``.
    """

    def __init__(self, format: str, line_no: int, line: str, why: str = "fits no layout of this format") -> None:
        self.format, self.line_no, self.line, self.why = format, line_no, line, why
        super().__init__(f"{format}: line {line_no} {why}: {line!r}")


def first_message_line(lines: list[str], fmt: str, is_message: Callable[[str], object], missing: str,
                       max_preamble: int = 0) -> tuple[int, list[str]]:
    """Index of the first line ``is_message`` accepts, and the non-blank lines above it (at most
    ``max_preamble``, else FormatMismatch quoting the first of them)."""
    start = next((i for i, line in enumerate(lines) if is_message(line)), None)
    first = next((i for i, x in enumerate(lines) if x.strip()), 0)
    if start is None:
        raise FormatMismatch(fmt, first + 1, lines[first] if lines else "", missing)
    preamble = [x.strip() for x in lines[:start] if x.strip()]
    if len(preamble) > max_preamble:
        raise FormatMismatch(fmt, first + 1, lines[first], f"comes before the first message line (line {start + 1})")
    return start, preamble


def quote(line: str, limit: int = 80) -> str:
    """A line shortened for an error message."""
    line = line.strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


_TAG_BREAK_RE = re.compile(r"<\s*(?:br\s*/?|/p|/div|/li|/h\d|/tr|/blockquote)\s*>", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]{0,400}>")
_BLANKS_RE = re.compile(r"\n\s*\n+")


def strip_html(text: str) -> str:
    """Plain text of an HTML fragment (helpdesk APIs send ``<p>...</p>`` bodies): tags out, breaks kept."""
    if "<" not in text and "&" not in text:
        return text.strip()
    text = _TAG_BREAK_RE.sub("\n", text)
    text = _TAG_RE.sub("", text)
    text = html.unescape(text).replace("\xa0", " ")
    lines = [line.strip() for line in text.splitlines()]
    return _BLANKS_RE.sub("\n\n", "\n".join(lines)).strip()


#: A clock time: ``10:32``, ``10:32:05``, ``10:32 AM``, ``10:32\u202fpm`` (newer exports use a narrow space).
TIME = r"\d{1,2}:\d{2}(?::\d{2})?(?:[\s\u202f]?[AaPp]\.?[Mm]\.?)?"
#: A calendar date: ``12/03/2024``, ``3/12/24``, ``2024-03-12``, ``12.03.24``.
DATE = r"(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{2}-\d{2})"

ACCEPTED_FORMATS = (
    "Accepted formats: (1) chat lines with a speaker label or name, optionally timestamped: 'Customer: ...' / "
    "'Agent: ...', 'Visitor:' / 'Operator:' / 'Bot:' / 'System:', '[10:32 AM] John Smith: ...', "
    "'10:32 Sarah (Support): ...', or 'John Smith - 10:32' with the message below; (2) a WhatsApp export "
    "('[12/03/2024, 10:32:05] Name: ...' or '12/03/2024, 10:32 - Name: ...'); (3) an e-mail thread with "
    "From:/Date: headers, '-----Original Message-----' or 'On ... wrote:' separators; (4) JSON: a list of "
    "{\"speaker\": \"customer\"|\"agent\", \"text\": ...} turns, a TweetSumm record, Zendesk ticket comments with "
    "users, an Intercom conversation, Freshdesk conversations; (5) Twitter-style lines each starting with an "
    "@handle, e.g. '@AcmeHelp my order is late' / '@12345 sorry to hear that'."
)
