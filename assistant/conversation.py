"""One schema for a support conversation, and the parser for what a manager pastes.

A conversation is an ordered tuple of turns, each spoken by the ``customer`` or the ``agent``.
Accepted inputs (see ``ACCEPTED_FORMATS``):

1. labelled lines: ``Customer: ...`` / ``Agent: ...`` (any case; ``user``/``client`` and
   ``support``/``assistant``/``rep`` are aliases; a tab-separated ``\\tCustomer:\\t...`` as written by the
   official TweetSumm processor works too). Unlabelled lines continue the previous turn.
2. JSON: a list of turns (``{"speaker"|"role": ..., "text"|"content": ...}``), or an object with a
   ``turns`` (TweetSumm record) or ``messages`` list.
3. Twitter-style text, one tweet per line starting with ``@handle``: the handle the first tweet
   addresses is the company; tweets addressed to it are the customer's, the others the agent's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal

from assistant.errors import InvalidConversation

Speaker = Literal["customer", "agent"]

#: Longest paste we accept. TweetSumm's longest dialog is about 5,000 characters; 30,000 leaves room
#: for long e-mail threads while staying inside the default 4,096-token context of the embedded model.
MAX_CHARS = 30_000

ACCEPTED_FORMATS = (
    "Accepted formats: (1) one turn per line starting with a speaker label, e.g. "
    "'Customer: my order is late' / 'Agent: sorry, let me check' (labels: customer, user, client / "
    "agent, support, assistant, rep); (2) JSON: a list of {\"speaker\": \"customer\"|\"agent\", \"text\": ...} "
    "turns, or a TweetSumm record with a \"turns\" list; (3) Twitter-style lines each starting with an "
    "@handle, e.g. '@AcmeHelp my order is late' / '@12345 sorry to hear that'."
)

_ROLE_ALIASES: dict[str, Speaker] = {
    "customer": "customer", "user": "customer", "client": "customer", "caller": "customer",
    "consumer": "customer", "human": "customer", "cust": "customer",
    "agent": "agent", "support": "agent", "assistant": "agent", "rep": "agent",
    "representative": "agent", "advisor": "agent", "operator": "agent", "staff": "agent",
}
# A label line: optional "[10:32]" / "10:32 -" timestamp and markdown bold, the role, an optional agent
# name ("Agent Sarah:"), a colon. Tab-separated official-processor lines ("\tCustomer:\t...") match too.
_LABEL_RE = re.compile(
    r"^\s*(?:\[?\d{1,2}:\d{2}(?::\d{2})?\s*(?:[ap]m)?\]?\s*[-–]?\s*)?(?:\*\*|__)?"
    r"(" + "|".join(_ROLE_ALIASES) + r")(?:\s+(?-i:[A-Z])[\w.'-]{0,20})?\s*(?:\*\*|__)?\s*[:：]\s*(?:\*\*|__)?\s*(.*)$",
    re.IGNORECASE,
)
_LEADING_HANDLES_RE = re.compile(r"^\s*((?:@\w{1,30}\b[\s,]*)+)")


@dataclass(frozen=True)
class Turn:
    """One message of a conversation."""

    speaker: Speaker
    text: str

    def __post_init__(self) -> None:
        if self.speaker not in ("customer", "agent"):
            raise InvalidConversation(f"Unknown speaker {self.speaker!r}: use 'customer' or 'agent'.")


@dataclass(frozen=True)
class Conversation:
    """An ordered list of turns, plus an optional id (e.g. the TweetSumm conversation_id)."""

    turns: tuple[Turn, ...]
    conversation_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def speakers(self) -> set[Speaker]:
        """The set of speakers that appear in the conversation."""
        return {t.speaker for t in self.turns}

    @property
    def n_chars(self) -> int:
        """Total characters of turn text."""
        return sum(len(t.text) for t in self.turns)

    def to_text(self) -> str:
        """Render as labelled lines (``Customer: ...``), the form the prompts use."""
        return "\n".join(f"{t.speaker.capitalize()}: {t.text}" for t in self.turns)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; ``parse_conversation(json.dumps(...))`` round-trips it."""
        return {
            "conversation_id": self.conversation_id,
            "turns": [{"speaker": t.speaker, "text": t.text} for t in self.turns],
        }


def validate(conv: Conversation, *, max_chars: int = MAX_CHARS, require_both: bool = True) -> Conversation:
    """Return ``conv`` if it is usable for summarization, else raise InvalidConversation."""
    if not conv.turns or all(not t.text.strip() for t in conv.turns):
        raise InvalidConversation("The conversation is empty: paste at least one customer and one agent turn.")
    if conv.n_chars > max_chars:
        raise InvalidConversation(
            f"The conversation is too long: {conv.n_chars:,} characters, the limit is {max_chars:,}. "
            "Split it into shorter parts (for example one per day or per ticket) and summarize each."
        )
    if require_both and len(conv.speakers) < 2:
        only = next(iter(conv.speakers))
        missing = "agent" if only == "customer" else "customer"
        raise InvalidConversation(
            f"The conversation is one-sided: every turn is from the {only}, none from the {missing}. "
            "Label the turns (e.g. 'Customer: ...' / 'Agent: ...') so both sides can be summarized."
        )
    return conv


def from_turns(items: Iterable[Any], conversation_id: str | None = None) -> Conversation:
    """Build a Conversation from dicts with speaker/role and text/content keys."""
    if not isinstance(items, list):
        raise InvalidConversation(f"Expected a list of turns, got {type(items).__name__}. {ACCEPTED_FORMATS}")
    turns = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidConversation(f"Turn {i + 1} is not an object with 'speaker' and 'text'. {ACCEPTED_FORMATS}")
        role = item.get("speaker", item.get("role", item.get("author")))
        text = item.get("text", item.get("content"))
        speaker = _ROLE_ALIASES.get(str(role).strip().lower()) if role is not None else None
        if speaker is None or not isinstance(text, str):
            raise InvalidConversation(
                f"Turn {i + 1} needs a speaker (customer/agent, got {role!r}) and a text string. {ACCEPTED_FORMATS}"
            )
        if text.strip():
            turns.append(Turn(speaker, text.strip()))
    return Conversation(tuple(turns), conversation_id)


def from_tweetsumm(record: dict[str, Any]) -> Conversation:
    """Build a Conversation from a TweetSumm record as in ``shared/data/tweetsumm/*.jsonl``."""
    cid = record.get("conversation_id")
    conv = from_turns(record.get("turns"), str(cid) if cid is not None else None)
    summaries = record.get("abstractive_summaries")
    meta = {"abstractive_summaries": list(summaries)} if summaries else {}
    return Conversation(conv.turns, conv.conversation_id, meta)


def _parse_json(text: str) -> Conversation:
    data = json.loads(text)
    if isinstance(data, list):
        return from_turns(data)
    if isinstance(data, dict):
        if "turns" in data:
            return from_tweetsumm(data)
        if "messages" in data:
            return from_turns(data["messages"], data.get("conversation_id"))
    raise InvalidConversation(f"The JSON holds no list of turns. {ACCEPTED_FORMATS}")


def _parse_labelled(lines: list[str]) -> Conversation | None:
    turns: list[list[Any]] = []
    for line in lines:
        m = _LABEL_RE.match(line)
        if m:
            turns.append([_ROLE_ALIASES[m.group(1).lower()], m.group(2).strip()])
        elif turns:
            turns[-1][1] = (turns[-1][1] + "\n" + line.strip()).strip()
        elif line.strip():
            return None  # text before the first label: not this format
    if not turns:
        return None
    return Conversation(tuple(Turn(s, t) for s, t in turns if t))


def _leading_handles(line: str) -> set[str]:
    m = _LEADING_HANDLES_RE.match(line)
    return {h.lower() for h in re.findall(r"@(\w+)", m.group(1))} if m else set()


def _parse_twitter(lines: list[str]) -> Conversation | None:
    first = next((line for line in lines if line.strip()), "")
    company = _leading_handles(first)  # customers start the thread by addressing the company
    if not company:
        return None
    turns: list[list[Any]] = []
    for line in lines:
        handles = _leading_handles(line)
        if handles:
            # a tweet that addresses the company is the customer's; the agent addresses the customer
            speaker: Speaker = "customer" if handles & company else "agent"
            if turns and turns[-1][0] == speaker:
                turns[-1][1] += " " + line.strip()  # consecutive tweets of one side form one turn
            else:
                turns.append([speaker, line.strip()])
        elif turns and line.strip():
            turns[-1][1] += "\n" + line.strip()
    return Conversation(tuple(Turn(s, t) for s, t in turns))


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


def parse_conversation(text: str | bytes, *, max_chars: int = MAX_CHARS, require_both: bool = True) -> Conversation:
    """Parse pasted text (any accepted format) into a validated Conversation.

    Raises InvalidConversation with a message a support manager can act on.
    """
    if isinstance(text, bytes):
        text = decode_input(text)
    text = text.lstrip("\ufeff")
    if _looks_binary(text):
        raise InvalidConversation("The input looks like binary data, not text. Paste the conversation as text.")
    if not text.strip():
        raise InvalidConversation("The conversation is empty: paste at least one customer and one agent turn.")
    if len(text) > max_chars * 2:  # cheap early exit before parsing a huge paste
        raise InvalidConversation(
            f"The conversation is too long: {len(text):,} characters, the limit is {max_chars:,}. "
            "Split it into shorter parts (for example one per day or per ticket) and summarize each."
        )
    stripped = text.strip()
    lines = stripped.splitlines()
    conv = _parse_labelled(lines) or _parse_twitter(lines)
    if conv is None and stripped[0] in "[{":
        try:
            conv = _parse_json(stripped)
        except json.JSONDecodeError as exc:
            raise InvalidConversation(f"The input starts like JSON but is not valid JSON ({exc.msg}, line {exc.lineno}). {ACCEPTED_FORMATS}") from exc
        except RecursionError as exc:
            raise InvalidConversation(f"The JSON is nested too deeply to be a conversation. {ACCEPTED_FORMATS}") from exc
    if conv is None:
        raise InvalidConversation(f"Could not recognise the conversation format. {ACCEPTED_FORMATS}")
    return validate(conv, max_chars=max_chars, require_both=require_both)
