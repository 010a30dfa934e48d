"""E-mail threads as pasted from a mail client or a helpdesk's "print ticket" page.

A thread is cut into messages at

- a header block: ``From:`` followed by ``To:``/``Date:``/``Sent:``/``Cc:``/``Subject:`` lines;
- a separator line: ``-----Original Message-----``, ``---``, ``________________________________``,
  ``---------- Forwarded message ---------``;
- an attribution line ``On <date>, <Name> <address> wrote:`` (possibly wrapped over two lines); the
  ``>``-quoted lines below it are that earlier message, read again as a thread (nested ``>>`` quotes too).

Each message's own text loses its quoted history and its signature (everything after a ``-- `` line, "Sent
from my iPhone"-style footers, and a closing such as "Best regards," followed by a few short lines: name,
title, company). A quoted copy of a message that is also in the paste is dropped, so each message appears
once. Output is oldest first: by the dates when every message has one, else reply chains (quoted and
"Original Message" history, newest on top) are reversed and plain ``---``-separated exports kept in order.
A message without a ``From:`` (the top of a copied reply) is marked as replying to the sender it quotes.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from assistant.formats.base import TIME, FormatMismatch, Message, Parsed

FORMAT = "email"

_HEADER_RE = re.compile(r"^\s*\*?(from|sent|date|to|cc|bcc|subject|reply-to)\*?\s*:\s*\*?\s*(.*)$", re.IGNORECASE)
_SEPARATOR_RE = re.compile(
    r"^\s*(?:-{2,}\s*(?:original message|forwarded message)\s*-{2,}|-{3,}|_{10,}|begin forwarded message:)\s*$",
    re.IGNORECASE)
_WROTE_RE = re.compile(r"^\s*On\s+(?P<who>\S.{3,299}?)\s*wrote:\s*$", re.IGNORECASE)
_CHAIN_RE = re.compile(r"original message|forwarded message|_{10,}", re.IGNORECASE)
_FOOTER_RE = re.compile(
    r"^\s*(?:sent from my \w+.*|sent from (?:mail|outlook|yahoo mail|gmail).*|get outlook for \w+.*|"
    r"sent via .{1,40})$", re.IGNORECASE)
_CLOSING_RE = re.compile(
    r"^\s*(?:best|best regards|kind regards|warm regards|regards|many thanks|thanks|thank you|thanks again|cheers|"
    r"sincerely|yours sincerely|yours truly|all the best|best wishes|talk soon|br)\s*[,!.]?\s*$", re.IGNORECASE)
_MAX_SIGNATURE_LINES = 6
_MONTHS = {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
_DATE_WORDS_RE = re.compile(
    r"(?P<a>\d{1,2})?\s*(?P<month>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s*(?P<b>\d{1,2})?\D{0,3}"
    r"(?P<year>\d{4})", re.IGNORECASE)
_ISO_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}))?")
_RFC2822_RE = re.compile(r"^\s*(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s+\d{1,2}:\d{2}(?::\d{2})?\s*(?:[+-]\d{4}|[A-Z]{1,5})?")
_CLOCK_RE = re.compile(rf"(?P<t>{TIME})")


@dataclass
class _Mail:
    """A message being read: headers, its own body lines, where it started."""

    line: int
    headers: dict[str, str] = field(default_factory=dict)
    body: list[str] = field(default_factory=list)
    replies_to: str | None = None
    quoted: bool = False


def is_email_line(lines: list[str], i: int) -> bool:
    """Whether line ``i`` starts an e-mail: a header block, a reply separator or an attribution line."""
    line = lines[i]
    if _SEPARATOR_RE.match(line) and _CHAIN_RE.search(line) or _wrote_at(lines, i):
        return True
    m = _HEADER_RE.match(line)
    if not m:
        return False
    near = lines[max(0, i - 4): i + 5]
    keys = {h[1].lower() for x in near if (h := _HEADER_RE.match(x))}
    return "from" in keys and len(keys) >= 2


def parse(lines: list[str]) -> Parsed:
    """Read a thread into messages, oldest first; raises FormatMismatch when a message has no sender."""
    mails, chain = _read(lines, 0, quoted=False)
    mails = _dedupe([m for m in mails if m.body])
    if chain:  # newest on top: a message without headers (the reply being copied) answers the one below it
        for mail, below in zip(mails, mails[1:]):
            if "from" not in mail.headers and not mail.replies_to and below.headers.get("from"):
                mail.replies_to = _message(below).name
    messages = [_message(m) for m in mails]
    if not messages:
        raise FormatMismatch(FORMAT, 1, next((x for x in lines if x.strip()), ""), "starts an e-mail with no text")
    for m in messages:
        if m.name is None and m.replies_to is None:
            raise FormatMismatch(FORMAT, m.line, lines[m.line - 1] if m.line else "", "starts a message with no From: line")
    stamps = [_when(m.time) for m in messages]
    if all(stamps):
        order = sorted(range(len(messages)), key=lambda k: stamps[k])
    else:
        dated = [s for s in stamps if s]
        newest_first = dated[0] > dated[-1] if len(dated) >= 2 and dated[0] != dated[-1] else chain
        order = list(range(len(messages)))[::-1] if newest_first else list(range(len(messages)))
    subject = next((m.headers["subject"] for m in mails if m.headers.get("subject")), None)
    return Parsed(FORMAT, tuple(messages[k] for k in order), meta={"subject": subject} if subject else {})


def _read(lines: list[str], offset: int, quoted: bool) -> tuple[list[_Mail], bool]:
    """Messages of ``lines`` in document order (quoted ones right after the message quoting them), and whether
    the thread is a reply chain (newest on top)."""
    mails = [_Mail(offset + 1, quoted=quoted)]
    chain, i = False, 0
    while i < len(lines):
        line = lines[i]
        wrote = _wrote_at(lines, i)
        if wrote:
            older, i = _read_quote(lines, i, wrote, offset, mails[-1])
            mails.extend(older)
            chain = True
            continue
        if line.lstrip().startswith(">"):  # quoted history without an attribution line: not this message's text
            i += 1
            continue
        if _SEPARATOR_RE.match(line):
            chain = chain or bool(_CHAIN_RE.search(line))
            mails.append(_Mail(offset + i + 2, quoted=quoted))
            i += 1
            continue
        header = _HEADER_RE.match(line)
        if header and (is_email_line(lines, i) or (mails[-1].headers and not mails[-1].body)):
            if mails[-1].body or header[1].lower() in mails[-1].headers:
                chain = chain or "sent" in {h[1].lower() for x in lines[i: i + 5] if (h := _HEADER_RE.match(x))}
                mails.append(_Mail(offset + i + 1, quoted=quoted))
            mails[-1].headers[header[1].lower()] = header[2].strip()
            i += 1
            continue
        if line.strip() or mails[-1].body:
            mails[-1].body.append(line.rstrip())
        i += 1
    for m in mails:
        m.body = _own_text(m.body)
    return mails, chain


def _read_quote(lines: list[str], i: int, wrote: tuple[str, int], offset: int, current: _Mail) -> tuple[list[_Mail], int]:
    """The messages quoted below the attribution at line ``i`` (sender and date from the attribution), and
    the index of the first line after the quote; ``current`` is marked as replying to the quoted sender."""
    who, used = wrote
    j = i + used
    while j < len(lines) and (lines[j].lstrip().startswith(">") or not lines[j].strip()):
        j += 1
    older, _ = _read([_unquote(x) for x in lines[i + used: j]], offset + i + used, quoted=True)
    name, address, when = _attribution(who)
    if older:
        older[0].headers.setdefault("from", f"{name} <{address}>" if address else name)
        older[0].headers.setdefault("date", when)
    current.replies_to = current.replies_to or name
    return older, j


def _wrote_at(lines: list[str], i: int) -> tuple[str, int] | None:
    """``(who, lines used)`` when an ``On ... wrote:`` attribution starts at line ``i`` (one or two lines)."""
    line = lines[i].strip()
    if not line.lower().startswith("on ") or len(line) > 300:
        return None
    m = _WROTE_RE.match(line)
    if m:
        return m["who"], 1
    if i + 1 < len(lines):
        m = _WROTE_RE.match(line + " " + lines[i + 1].strip())
        if m:
            return m["who"], 2
    return None


def _attribution(who: str) -> tuple[str, str | None, str]:
    """Sender name, address and date from the middle of ``On Tue, 12 Mar 2024 at 10:32, John <j@x.com> wrote:``."""
    address = None
    m = re.search(r"<([^<>@\s]+@[^<>\s]+)>\s*$", who)
    if m:
        address, who = m[1], who[: m.start()].strip()
    times = list(_CLOCK_RE.finditer(who))
    cut = times[-1].end() if times else who.rfind(",") + 1
    name = who[cut:].strip(" ,") or (address or "unknown sender")
    return name.strip('"'), address, who[:cut].strip(" ,")


def _unquote(line: str) -> str:
    line = line.lstrip()
    return line[1:][1:] if line[1:2] == " " else line[1:]


def _own_text(body: list[str]) -> list[str]:
    """The message's words: no signature, footer or trailing closing block."""
    cut = next((k for k, line in enumerate(body) if line.rstrip() == "--" or _FOOTER_RE.match(line)), len(body))
    lines = _rstrip_blank(body[:cut])
    for k in range(len(lines) - 1, max(-1, len(lines) - _MAX_SIGNATURE_LINES - 2), -1):
        if _CLOSING_RE.match(lines[k]) and k < len(lines) - 1 and all(len(x) <= 60 for x in lines[k + 1:]):
            return _rstrip_blank(lines[:k])
    return lines


def _rstrip_blank(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return lines[:end]


def _message(mail: _Mail) -> Message:
    name, address = email.utils.parseaddr(re.sub(r"\[mailto:([^\]]+)\]", r"<\1>", mail.headers.get("from", "")))
    name = name.strip() or address or None
    body = list(mail.body)
    if name and len(body) > 1 and body[-1].strip().lower() in {name.lower(), name.split()[0].lower()}:
        body.pop()  # a bare sign-off with the sender's own name
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(body)).strip()
    return Message(text, name=name, time=mail.headers.get("date") or mail.headers.get("sent") or None,
                   address=address.lower() or None, line=mail.line, replies_to=None if name else mail.replies_to)


def _dedupe(mails: list[_Mail]) -> list[_Mail]:
    """Drop a quoted message whose text is a copy of one already kept (each message appears once)."""
    kept: list[_Mail] = []
    keys: list[str] = []
    for m in mails:
        key = " ".join(re.sub(r"[>*]", " ", "\n".join(m.body)).lower().split())
        if m.quoted and any(key == k or (len(key) >= 40 and (k.startswith(key) or key.startswith(k))) for k in keys):
            continue
        kept.append(m)
        keys.append(key)
    return kept


def _when(text: str | None) -> datetime | None:
    """A datetime from an e-mail date header or attribution, as UTC; None when it cannot be read."""
    if not text:
        return None
    parsed = None
    if _RFC2822_RE.match(text):  # parsedate also "reads" "March 13, 2024 2:05 PM", as 02:05: only RFC dates
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            parsed = None
    parsed = parsed or _loose_date(text)
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _loose_date(text: str) -> datetime | None:
    """``Tuesday, March 12, 2024 10:32 AM``, ``12 March 2024 at 10:32``, ``2024-03-12 10:32``."""
    hour = minute = 0
    clock = _CLOCK_RE.search(text)
    if clock:
        t = clock["t"].replace("\u202f", " ").lower().replace(".", "")
        hh, mm = t.split(":")[:2]
        hour, minute = int(hh), int(mm[:2])
        if "pm" in t and hour < 12:
            hour += 12
        if "am" in t and hour == 12:
            hour = 0
    iso = _ISO_RE.search(text)
    try:
        if iso:
            return datetime(int(iso[1]), int(iso[2]), int(iso[3]), int(iso[4] or hour), int(iso[5] or minute))
        words = _DATE_WORDS_RE.search(_CLOCK_RE.sub(" ", text))
        if words and (words["a"] or words["b"]):
            day = int(words["a"] or words["b"])
            return datetime(int(words["year"]), _MONTHS[words["month"][:3].lower()], day, hour, minute)
    except ValueError:
        return None
    return None
