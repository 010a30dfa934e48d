"""WhatsApp "Export chat" text files, both layouts the apps write.

- iOS:     ``[12/03/2024, 10:32:05] John Smith: text``
- Android: ``12/03/2024, 10:32 - John Smith: text``

Dates are day- or month-first depending on the phone's locale, 12- or 24-hour clocks, and newer exports put a
narrow no-break space before AM/PM and left-to-right marks before attachments; all are accepted. Lines without
a timestamp continue the message above. A timestamped line without ``Name:`` ("Messages and calls are
end-to-end encrypted...", "John joined using this group's invite link") is a ``system`` message, and so is
iOS's encryption notice, which the app attributes to the chat's name behind a left-to-right mark.
"""

from __future__ import annotations

import re

from assistant.formats.base import DATE, TIME, FormatMismatch, Message, Parsed, first_message_line

FORMAT = "whatsapp"

_NAME = r"(?P<name>[^\s:](?:[^:\n]{0,58}?[^\s:])?)"
LAYOUTS: dict[str, re.Pattern[str]] = {
    "ios": re.compile(rf"^\s*\u200e?\[(?P<time>{DATE},\s*{TIME})\]\s*(?:{_NAME}:\s?)?(?P<text>.*)$"),
    "android": re.compile(rf"^\s*\u200e?(?P<time>{DATE},\s*{TIME})\s+[-–]\s+(?:{_NAME}:\s?)?(?P<text>.*)$"),
}
_SYSTEM_PHRASES = (
    "end-to-end encrypted", "created group", "created this group", "joined using", " added ", " left",
    "changed the subject", "changed this group", "changed their phone number", "security code", "you deleted",
    "is a contact", "disappearing messages", "business account", "this business", "this chat is with", "pinned a message", "this message was deleted",
)
_MARKS_RE = re.compile(r"[\u200e\u200f\u202a-\u202e]")


def layout_of(line: str) -> str | None:
    """``"ios"`` or ``"android"`` when ``line`` is a WhatsApp message line, else None."""
    return next((name for name, rx in LAYOUTS.items() if rx.match(line)), None)


def parse(lines: list[str]) -> Parsed:
    """Read WhatsApp export lines into messages; raises FormatMismatch on a line of the other layout."""
    # exports start with a message line: anything above it was typed or pasted by hand
    start, _ = first_message_line(lines, FORMAT, layout_of, "has no WhatsApp timestamp")
    layout = layout_of(lines[start])
    messages: list[Message] = []
    current: dict | None = None
    for i in range(start, len(lines)):
        line = lines[i]
        m = LAYOUTS[layout].match(line)
        if m is None:
            other = layout_of(line)
            if other:
                raise FormatMismatch(FORMAT, i + 1, line, f"is a WhatsApp {other} line inside a {layout} export")
            if current is not None:
                current["body"].append(_MARKS_RE.sub("", line).strip())
            continue
        _flush(messages, current)
        current = {"m": m, "line": i + 1, "body": [_MARKS_RE.sub("", m["text"]).strip()]}
    _flush(messages, current)
    return Parsed(FORMAT, tuple(messages), meta={"layout": layout})


def _flush(messages: list[Message], current: dict | None) -> None:
    if current is None:
        return
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(current["body"])).strip()
    if not text:
        return
    m = current["m"]
    name = _MARKS_RE.sub("", m["name"] or "").strip() or None
    time = m["time"].replace("\u202f", " ")
    raw, lowered = m["text"], text.lower()
    if name and (len(name.split()) > 5 or any(p in name.lower() for p in _SYSTEM_PHRASES)):
        name, text = None, f"{name}: {text}"  # "Security code changed. Tap to learn more: ..." is a notice
    if name is None or (raw.startswith("\u200e") and any(p in lowered for p in _SYSTEM_PHRASES)):
        messages.append(Message(text, role="system", reason="WhatsApp notice", time=time, line=current["line"]))
    else:
        messages.append(Message(text, name=name, time=time, line=current["line"]))
