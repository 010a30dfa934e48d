"""JSON pastes: plain turn lists and the conversation shapes of the main helpdesk APIs.

Shapes, tried in this order (the first whose keys are present reads the paste):

1. a list of turns ``[{"speaker"|"role"|"author": ..., "text"|"content": ..., "name"?: ..., "time"?: ...}]``,
   or an object with ``turns`` (a TweetSumm record) or ``messages`` holding such a list;
2. Zendesk ticket comments: ``{"comments": [{"author_id", "plain_body"|"body", "public", "created_at"}],
   "users": [{"id", "name", "role": "end-user"|"agent"|"admin"}]}`` (``GET /tickets/{id}/comments?include=users``);
3. an Intercom conversation: ``{"source": {"author": {"type", "name"}, "body"}, "conversation_parts":
   {"conversation_parts": [{"part_type", "author", "body", "created_at"}]}}``; HTML bodies become text;
4. Freshdesk: a ticket with ``description_text`` and ``conversations``, or the bare list of conversations
   (``[{"body_text", "incoming", "private", "user_id"}]``).

Internal notes (Zendesk ``public: false``, Intercom ``note`` parts, Freshdesk ``private: true``) are not turns:
the customer never saw them, and an audit must not judge the agent on them. They are kept, with their
author, in ``meta["internal_notes"]`` so a UI can show them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from assistant.errors import InvalidConversation
from assistant.formats.base import ACCEPTED_FORMATS, ROLE_ALIASES, Message, Parsed, Role, strip_html

_ZENDESK_ROLES: dict[str, Role] = {"end-user": "customer", "agent": "agent", "admin": "agent"}
_INTERCOM_ROLES: dict[str, Role] = {"user": "customer", "lead": "customer", "contact": "customer",
                                    "admin": "agent", "team": "agent", "bot": "bot"}


def parse_json(data: Any) -> Parsed:
    """Read decoded JSON into messages; raises InvalidConversation naming what is missing."""
    if isinstance(data, list):
        if data and all(isinstance(x, dict) and ("body_text" in x or "incoming" in x) for x in data):
            return freshdesk({"conversations": data})
        return turn_list(data)
    if not isinstance(data, dict):
        raise InvalidConversation(f"The JSON holds no list of turns. {ACCEPTED_FORMATS}")
    if "turns" in data:
        return tweetsumm(data)
    if "messages" in data:
        return turn_list(data["messages"], data.get("conversation_id"))
    if isinstance(data.get("comments"), list):
        return zendesk(data)
    if "conversation_parts" in data or isinstance(data.get("source"), dict):
        return intercom(data)
    if "description_text" in data or "conversations" in data:
        return freshdesk(data)
    raise InvalidConversation(f"The JSON holds no list of turns. {ACCEPTED_FORMATS}")


def turn_list(items: Any, conversation_id: str | None = None, fmt: str = "json-turns") -> Parsed:
    """Turns given as dicts with a speaker/role/author and a text/content string."""
    if not isinstance(items, list):
        raise InvalidConversation(f"Expected a list of turns, got {type(items).__name__}. {ACCEPTED_FORMATS}")
    messages = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidConversation(f"Turn {i + 1} is not an object with 'speaker' and 'text'. {ACCEPTED_FORMATS}")
        role = item.get("speaker", item.get("role", item.get("author")))
        text = item.get("text", item.get("content"))
        speaker = ROLE_ALIASES.get(str(role).strip().lower()) if role is not None else None
        if speaker is None or not isinstance(text, str):
            raise InvalidConversation(
                f"Turn {i + 1} needs a speaker (customer/agent/bot/system, got {role!r}) and a text string. "
                f"{ACCEPTED_FORMATS}")
        if text.strip():
            name, time = item.get("name"), item.get("time")
            messages.append(Message(text.strip(), name=str(name) if name else None, role=speaker,
                                    reason=f'role "{role}"', time=str(time) if time else None))
    return Parsed(fmt, tuple(messages), str(conversation_id) if conversation_id is not None else None)


def tweetsumm(record: dict) -> Parsed:
    """A TweetSumm record (``conversation_id``, ``turns``, ``abstractive_summaries``)."""
    cid = record.get("conversation_id")
    parsed = turn_list(record.get("turns"), str(cid) if cid is not None else None, "tweetsumm")
    summaries = record.get("abstractive_summaries")
    return Parsed(parsed.format, parsed.messages, parsed.conversation_id,
                  {"abstractive_summaries": list(summaries)} if summaries else {})


def zendesk(data: dict) -> Parsed:
    """Zendesk ticket comments; roles from the sideloaded users (end-user: customer, agent/admin: agent)."""
    users = {u.get("id"): u for u in data.get("users") or [] if isinstance(u, dict)}
    messages, notes = [], []
    for i, c in enumerate(data["comments"]):
        if not isinstance(c, dict):
            raise InvalidConversation(f"Zendesk comment {i + 1} is not an object.")
        user = users.get(c.get("author_id"), {})
        name = user.get("name") or f"user {c.get('author_id')}"
        text = strip_html(str(c.get("plain_body") or c.get("body") or strip_html(c.get("html_body") or "")))
        if not text:
            continue
        if c.get("public") is False:
            notes.append({"name": name, "text": text})
            continue
        via = (c.get("via") or {}).get("channel") if isinstance(c.get("via"), dict) else None
        role: Role | None = "bot" if via == "answer_bot" else _ZENDESK_ROLES.get(str(user.get("role")))
        reason = "Zendesk Answer Bot" if via == "answer_bot" else f'Zendesk user role "{user.get("role")}"' if role else ""
        messages.append(Message(text, name=name, role=role, reason=reason, time=_str(c.get("created_at"))))
    ticket = data.get("ticket") if isinstance(data.get("ticket"), dict) else {}
    return Parsed("zendesk", tuple(messages), _str(ticket.get("id")), {"internal_notes": notes})


def intercom(data: dict) -> Parsed:
    """An Intercom conversation: the opening ``source`` and its ``conversation_parts``; HTML stripped."""
    parts_box = data.get("conversation_parts") or {}
    parts = parts_box.get("conversation_parts", []) if isinstance(parts_box, dict) else parts_box
    if not isinstance(parts, list):
        raise InvalidConversation("Intercom 'conversation_parts' holds no list of parts.")
    source = data.get("source") if isinstance(data.get("source"), dict) else None
    items = ([{**source, "part_type": "comment", "created_at": data.get("created_at")}] if source else []) + parts
    messages, notes = [], []
    for part in items:
        if not isinstance(part, dict):
            continue
        author = part.get("author") if isinstance(part.get("author"), dict) else {}
        kind = str(author.get("type") or "")
        role = _INTERCOM_ROLES.get(kind)
        name = author.get("name") or (f"{kind} {author.get('id')}" if author.get("id") else None)
        text = strip_html(str(part.get("body") or ""))
        if not text:
            continue  # assignments, opens, closes without a message
        if "note" in str(part.get("part_type") or ""):
            notes.append({"name": name, "text": text})
            continue
        messages.append(Message(text, name=name, role=role, reason=f'Intercom author type "{kind}"' if role else "",
                                time=_str(part.get("created_at"))))
    return Parsed("intercom", tuple(messages), _str(data.get("id")), {"internal_notes": notes})


def freshdesk(data: dict) -> Parsed:
    """A Freshdesk ticket: its description (the requester's) and conversations (``incoming``: the customer)."""
    messages, notes = [], []
    opening = strip_html(str(data.get("description_text") or data.get("description") or ""))
    if opening:
        messages.append(Message(opening, name=_user(data.get("requester_id")), role="customer",
                                reason="Freshdesk ticket requester", time=_str(data.get("created_at"))))
    for i, c in enumerate(data.get("conversations") or []):
        if not isinstance(c, dict):
            raise InvalidConversation(f"Freshdesk conversation {i + 1} is not an object.")
        text = strip_html(str(c.get("body_text") or c.get("body") or ""))
        name = c.get("from_email") or _user(c.get("user_id"))
        if not text:
            continue
        if c.get("private"):
            notes.append({"name": name, "text": text})
            continue
        incoming = bool(c.get("incoming"))
        messages.append(Message(text, name=name, role="customer" if incoming else "agent",
                                reason="Freshdesk incoming reply" if incoming else "Freshdesk outgoing reply",
                                time=_str(c.get("created_at"))))
    return Parsed("freshdesk", tuple(messages), _str(data.get("id")), {"internal_notes": notes})


def _user(uid: Any) -> str | None:
    return f"user {uid}" if uid is not None else None


def _str(value: Any) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 10**8:  # Unix time (Intercom)
        return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return None if value is None else str(value)
