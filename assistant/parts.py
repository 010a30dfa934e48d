"""A conversation too long for one prompt, in consecutive parts that each fit: split at message boundaries.

Used twice: the summarizer summarizes each part and writes the final summary from the part summaries
(``assistant.summarize``), and the audit asks its questions of windows of messages (``assistant.audit``).
Splitting is pure: it is given what each message costs in tokens and how many fit, and never runs a model.

Parts are balanced (a 5.2-part conversation becomes six parts of similar length, not five full ones and a
scrap), since a part summary is only as good as the part has substance. A message longer than a whole part (a
pasted log, a long e-mail) is the one case where a message is cut: at line breaks, else at sentence ends, else
between words; the result says how many messages were cut.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from assistant.conversation import Conversation, Turn
from assistant.errors import InvalidConversation

#: Most parts one conversation is split into. It bounds the time: on a 2-core CPU the embedded 0.5B summarizes a
#: full 4,096-token part in 35-65 s (README, "Long conversations"), so 24 parts (about 350,000 characters of chat)
#: take about 15-25 minutes; a longer paste is not one conversation.
MAX_PARTS = 24

# Cut points of a message too long for a part, tried in order: line breaks, sentence ends, whitespace.
_CUTS = (re.compile(r"\s*\n\s*"), re.compile(r"(?<=[.!?\u2026])\s+"), re.compile(r"\s+"))
_JOINERS = ("\n", " ", " ")


@dataclass(frozen=True)
class Split:
    """A conversation as consecutive parts (each a Conversation with the original's id and meta)."""

    parts: tuple[Conversation, ...]
    cut_messages: int  # messages longer than a part, cut at line or sentence boundaries; 0 when all fit whole


def pack(costs: Sequence[int], budget: int) -> list[range]:
    """Consecutive runs of items whose costs add up to at most ``budget``, each run as long as it can be.

    Raises ValueError for an item that alone costs more than ``budget``.
    """
    runs, start, total = [], 0, 0
    for i, cost in enumerate(costs):
        if cost > budget:
            raise ValueError(f"item {i} costs {cost}, more than the budget {budget}")
        if total + cost > budget:
            runs.append(range(start, i))
            start, total = i, 0
        total += cost
    if start < len(costs):
        runs.append(range(start, len(costs)))
    return runs


def balanced_pack(costs: Sequence[int], budget: int) -> list[range]:
    """As few runs as ``pack`` gives, but of similar cost: the smallest per-run budget that still needs no more
    runs (binary search; the number of runs only falls as the budget grows)."""
    fewest = len(pack(costs, budget))
    low, high = max(max(costs, default=0), 1), budget
    while low < high:
        mid = (low + high) // 2
        if len(pack(costs, mid)) <= fewest:
            high = mid
        else:
            low = mid + 1
    return pack(costs, high)


def cut_text(text: str, cost: Callable[[str], int], budget: int, level: int = 0) -> list[str]:
    """``text`` in consecutive pieces that each cost at most ``budget``: cut at line breaks, else at sentence
    ends, else between words; a single word longer than a piece is halved (nothing else is left to do)."""
    if cost(text) <= budget:
        return [text]
    if level == len(_CUTS):
        if len(text) < 2:
            raise ValueError(f"one character costs more than the budget {budget}")
        mid = len(text) // 2
        return cut_text(text[:mid], cost, budget, level) + cut_text(text[mid:], cost, budget, level)
    units = [u for u in _CUTS[level].split(text.strip()) if u]
    if len(units) < 2:
        return cut_text(text, cost, budget, level + 1)
    pieces, current = [], ""
    for unit in units:
        joined = f"{current}{_JOINERS[level]}{unit}" if current else unit
        if current and cost(joined) > budget:
            pieces.append(current)
            current = unit
        else:
            current = joined
    pieces.append(current)
    return [small for piece in pieces for small in cut_text(piece, cost, budget, level + 1)]


def split_conversation(conv: Conversation, turn_cost: Callable[[Turn], int], budget: int,
                       max_parts: int = MAX_PARTS) -> Split:
    """``conv`` in balanced consecutive parts whose turns cost at most ``budget`` in all, split between messages.

    ``turn_cost`` is what one turn adds to a prompt. A message costing more than ``budget`` is cut into pieces
    (consecutive turns of the same speaker, name and time). Raises InvalidConversation when more than
    ``max_parts`` parts would be needed.
    """
    turns: list[Turn] = []
    cut_messages = 0
    for turn in conv.turns:
        if turn_cost(turn) <= budget:
            turns.append(turn)
            continue
        turns.extend(replace(turn, text=piece)
                     for piece in cut_text(turn.text, lambda text: turn_cost(replace(turn, text=text)), budget))
        cut_messages += 1
    runs = balanced_pack([turn_cost(t) for t in turns], budget)
    if len(runs) > max_parts:
        raise InvalidConversation(
            f"The conversation is too long: {conv.n_chars:,} characters would take {len(runs)} parts of at most "
            f"{budget:,} tokens for the model's context, and at most {max_parts} parts are processed (about a "
            "minute each on a laptop CPU), so that the time stays bounded. Paste one conversation at a time, or a "
            "shorter stretch of this one.")
    return Split(tuple(Conversation(tuple(turns[r.start:r.stop]), conv.conversation_id, conv.meta) for r in runs),
                 cut_messages)
