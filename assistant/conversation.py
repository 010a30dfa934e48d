"""One schema for a support conversation, and the entry point that parses what a manager pastes.

A conversation is an ordered tuple of turns, each by the ``customer``, the human ``agent``, a ``bot``
(automated replies, which an audit must not judge as the agent's) or the ``system`` (notices such as
"Chat started", WhatsApp's encryption line, an export's title). ``parse_conversation`` accepts chat
transcripts with labels or names and optional timestamps, WhatsApp exports, e-mail threads, JSON (turn lists,
TweetSumm records, Zendesk, Intercom and Freshdesk API shapes) and Twitter-style @handle threads; the
readers and the fixed order they are tried in live in ``assistant.formats`` (see its docstring). When
speakers are names, roles are inferred with stated evidence (``assistant.formats.roles``); the result is in
``meta["roles"]`` / ``meta["role_reasons"]`` and ``with_roles`` overrides it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Literal, Mapping

from assistant.errors import InvalidConversation
from assistant.formats import FORMAT_NAMES, FormatMismatch, NoFormat, Parsed, read
from assistant.formats.base import ACCEPTED_FORMATS, ROLES, quote
from assistant.formats.helpdesk import turn_list, tweetsumm
from assistant.formats.roles import RoleDecision, infer_roles, role_of_unnamed

__all__ = ["ACCEPTED_FORMATS", "MAX_CHARS", "Conversation", "Speaker", "Turn", "decode_input", "from_messages",
           "from_turns", "from_tweetsumm", "parse_conversation", "validate", "with_roles"]

Speaker = Literal["customer", "agent", "bot", "system"]

#: Hard cap against absurd pastes (a whole mailbox, a log file). Long conversations are summarized in parts,
#: split at message boundaries, so this is not the model's context; callers pass a smaller ``max_chars``.
MAX_CHARS = 400_000


@dataclass(frozen=True)
class Turn:
    """One message of a conversation: who wrote it (role, and name when the paste gives one), when, what."""

    speaker: Speaker
    text: str
    name: str | None = None
    time: str | None = None

    def __post_init__(self) -> None:
        if self.speaker not in ROLES:
            raise InvalidConversation(f"Unknown speaker {self.speaker!r}: use one of {', '.join(ROLES)}.")


@dataclass(frozen=True)
class Conversation:
    """An ordered list of turns, plus an optional id (e.g. the TweetSumm conversation_id).

    ``meta`` holds what parsing learned: ``format`` (which reader read it), ``roles`` and ``role_reasons``
    (named speakers), ``internal_notes`` (helpdesk notes kept out of the turns), ``abstractive_summaries``.
    """

    turns: tuple[Turn, ...]
    conversation_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def speakers(self) -> set[Speaker]:
        """The set of speakers (roles) that appear in the conversation."""
        return {t.speaker for t in self.turns}

    @property
    def n_chars(self) -> int:
        """Total characters of turn text."""
        return sum(len(t.text) for t in self.turns)

    def to_text(self) -> str:
        """Render as labelled lines (``Customer: ...``, ``Bot: ...``), the form the prompts use."""
        return "\n".join(f"{t.speaker.capitalize()}: {t.text}" for t in self.turns)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; ``parse_conversation(json.dumps(...))`` round-trips it."""
        turns = [{"speaker": t.speaker, "text": t.text, **({"name": t.name} if t.name else {}),
                  **({"time": t.time} if t.time else {})} for t in self.turns]
        return {"conversation_id": self.conversation_id, "turns": turns}


def validate(conv: Conversation, *, max_chars: int = MAX_CHARS, require_both: bool = True) -> Conversation:
    """Return ``conv`` if it is usable for summarization, else raise InvalidConversation.

    ``require_both``: at least one customer turn and one human agent turn (bot and system turns do not count).
    """
    if not conv.turns or all(not t.text.strip() for t in conv.turns):
        raise InvalidConversation("The conversation is empty: paste at least one customer and one agent turn.")
    if conv.n_chars > max_chars:
        raise _too_long(conv.n_chars, max_chars)
    if require_both and not {"customer", "agent"} <= conv.speakers:
        raise InvalidConversation(_one_sided(conv))
    return conv


def _too_long(n: int, max_chars: int) -> InvalidConversation:
    return InvalidConversation(
        f"The conversation is too long: {n:,} characters, the limit is {max_chars:,}. "
        "Paste one conversation (one ticket or chat) at a time."
    )


def _one_sided(conv: Conversation) -> str:
    present = conv.speakers
    if "customer" not in present and "agent" not in present:
        return ("The conversation has no customer and no agent turn, only " + " and ".join(sorted(present)) +
                " messages. Label the turns (e.g. 'Customer: ...' / 'Agent: ...').")
    only, missing = ("customer", "agent") if "customer" in present else ("agent", "customer")
    automated = " and ".join(sorted(present & {"bot", "system"}))
    if missing == "agent" and automated:
        detail = f"the only replies are {automated} messages, and those are not judged as the agent's"
    else:
        detail = f"every turn is from the {only}, none from the {missing}"
    roles = conv.meta.get("roles") or {}
    fix = ("Label the turns (e.g. 'Customer: ...' / 'Agent: ...') so both sides can be summarized." if not roles else
           f"Roles were inferred as {', '.join(f'{n} = {r}' for n, r in roles.items())}; "
           "name the agents (--agent in the CLI, 'Agent names' in the app) or correct the roles if that is wrong.")
    return f"The conversation is one-sided: {detail}. {fix}"


def from_messages(parsed: Parsed, agents: Iterable[str] = ()) -> Conversation:
    """Turns from parsed messages, with roles for names decided by ``infer_roles`` (reasons in ``meta``)."""
    decided = infer_roles(parsed.messages, agents)
    turns = []
    for m in parsed.messages:
        role = m.role or (decided[m.name].role if m.name in decided else None)
        if role is None:
            unnamed = role_of_unnamed(m, decided)
            if unnamed is None:
                raise InvalidConversation(f"Message at line {m.line} has no sender, so its role is unknown.")
            role = unnamed.role
        turns.append(Turn(role, m.text, m.name, m.time))
    meta = {**parsed.meta, "format": parsed.format, "roles": {n: d.role for n, d in decided.items()},
            "role_reasons": {n: d.reason for n, d in decided.items()}}
    return Conversation(tuple(turns), parsed.conversation_id, meta)


def with_roles(conv: Conversation, roles: Mapping[str, str]) -> Conversation:
    """``conv`` with the named speakers given new roles (e.g. ``{"John Smith": "agent"}``); pure.

    Raises InvalidConversation for a name that is not a speaker or a role that does not exist.
    """
    names = {t.name for t in conv.turns if t.name}
    unknown = [n for n in roles if n not in names]
    bad = [r for r in roles.values() if r not in ROLES]
    if unknown or bad:
        raise InvalidConversation(
            (f"No speaker named {', '.join(map(repr, unknown))} (speakers: {', '.join(sorted(names)) or 'none'}). "
             if unknown else "") + (f"Unknown role {', '.join(map(repr, bad))}: use one of {', '.join(ROLES)}." if bad else ""))
    turns = tuple(replace(t, speaker=roles[t.name]) if t.name in roles else t for t in conv.turns)
    meta = {**conv.meta, "roles": {**conv.meta.get("roles", {}), **roles},
            "role_reasons": {**conv.meta.get("role_reasons", {}), **{n: "set by you" for n in roles}}}
    return Conversation(turns, conv.conversation_id, meta)


def agent_names(*values: str) -> tuple[str, ...]:
    """The agent names in comma-separated ``values`` (the CLI's repeatable ``--agent``, the app's box), trimmed."""
    return tuple(name.strip() for value in values for name in value.split(",") if name.strip())


def swap_roles(conv: Conversation) -> Conversation:
    """``conv`` with its named customers and agents exchanged (a wrong guess of who is who, fixed in one click)."""
    names = {t.name: t.speaker for t in conv.turns if t.name and t.speaker in ("customer", "agent")}
    return with_roles(conv, {n: "agent" if r == "customer" else "customer" for n, r in names.items()}) if names else conv


def roles_line(conv: Conversation) -> str:
    """Who was taken for whom and why, in one line (``John Smith: customer (opens the conversation); ...``)."""
    reasons = conv.meta.get("role_reasons", {})
    return "; ".join(f"{name}: {role}" + (f" ({reasons[name]})" if name in reasons else "")
                     for name, role in conv.meta.get("roles", {}).items())


def from_turns(items: Iterable[Any], conversation_id: str | None = None) -> Conversation:
    """Build a Conversation from dicts with speaker/role and text/content keys (and optional name, time)."""
    return from_messages(turn_list(items, conversation_id))


def from_tweetsumm(record: dict[str, Any]) -> Conversation:
    """Build a Conversation from a TweetSumm record as in ``shared/data/tweetsumm/*.jsonl``."""
    return from_messages(tweetsumm(record))


def decode_input(data: bytes) -> str:
    """Decode uploaded bytes: UTF-8 (a byte-order mark is dropped), else Windows-1252 (old Windows exports)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _looks_binary(text: str) -> bool:
    if "\x00" in text:
        return True
    sample = text[:4096]
    bad = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\n\r") or ch == "\ufffd")
    return bad > max(3, len(sample) // 50)


def parse_conversation(text: str | bytes, *, max_chars: int = MAX_CHARS, require_both: bool = True,
                       agents: Iterable[str] = ()) -> Conversation:
    """Parse pasted text (any accepted format) into a validated Conversation.

    ``agents``: names of the company's agents (first or full name, any case), the strongest evidence for
    roles after what the format itself states. ``meta["format"]`` names the reader, ``meta["roles"]`` and
    ``meta["role_reasons"]`` the inferred roles. Raises InvalidConversation with a message a support manager
    can act on: for a paste that fits no format or only partly fits one, it names the closest format and
    quotes the first line that did not fit.
    """
    if isinstance(text, bytes):
        text = decode_input(text)
    text = text.lstrip("\ufeff")
    if _looks_binary(text):
        raise InvalidConversation("The input looks like binary data, not text. Paste the conversation as text.")
    if not text.strip():
        raise InvalidConversation("The conversation is empty: paste at least one customer and one agent turn.")
    if len(text) > max_chars * 2:  # cheap early exit before parsing a huge paste
        raise _too_long(len(text), max_chars)
    try:
        parsed = read(text)
    except FormatMismatch as exc:
        raise InvalidConversation(
            f"This looks like {FORMAT_NAMES.get(exc.format, exc.format)}, but line {exc.line_no} {exc.why}: "
            f"\"{quote(exc.line)}\". Fix or remove that line, or paste one format at a time. {ACCEPTED_FORMATS}"
        ) from exc
    except NoFormat as exc:
        if exc.json_error is not None:
            err = exc.json_error
            raise InvalidConversation(f"The input starts like JSON but is not valid JSON ({err.msg}, line {err.lineno}). "
                                      f"{ACCEPTED_FORMATS}") from exc
        if exc.closest:
            fmt, why = exc.closest
            raise InvalidConversation(
                f"Could not recognise the conversation format. The closest is {FORMAT_NAMES[fmt]}, but line "
                f"{exc.line_no} {why}: \"{quote(exc.line)}\". {ACCEPTED_FORMATS}") from exc
        raise InvalidConversation(f"Could not recognise the conversation format: no line looks like a message "
                                  f"(line {exc.line_no}: \"{quote(exc.line)}\"). {ACCEPTED_FORMATS}") from exc
    except RecursionError as exc:
        raise InvalidConversation(f"The JSON is nested too deeply to be a conversation. {ACCEPTED_FORMATS}") from exc
    return validate(from_messages(parsed, agents), max_chars=max_chars, require_both=require_both)
