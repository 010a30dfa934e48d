"""Chunking that keeps headings: one rule section = one chunk, each chunk knowing its heading path and rule id.

Markdown: every ATX heading (``#`` to ``######``, outside code fences) starts a section; its heading path is
the chain of enclosing headings ("Playbook > G3: Never ask for sensitive credentials"). A heading whose text
starts with a rule id (``G3:``, ``R12.``, ``SEC-4)``, ``G3 -``) opens a rule section that keeps its
sub-headings inside it. The title's preamble is a chunk of its own (rule_id None).

Text and PDF: a line starting with a rule id and a colon (``R2: Refunds go through DM``) starts a rule
section; text before the first one is the preamble, headed by the file's stem.

Numbered policy manuals: a paragraph that starts with a section number (``4.2 When the traveller is unhappy,
...``, ``§ 3.1 ...``) is a rule with that id, in Markdown (outside a rule section) and in text and PDF alike; it
runs to the next numbered paragraph or heading (of any level), and its heading is the enclosing path plus its opening
words.

A section longer than ``max_chars`` is split on paragraph boundaries (then lines, then words), each piece
keeping the section's heading and rule id. Chunk ids hash source, heading, piece index and text, so they are
stable across rebuilds of unchanged text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import PurePath

from knowledge_base.errors import EmptyDocument

MAX_CHARS = 1500
RULE_ID = r"[A-Z]{1,6}-?\d{1,4}"
HEADING_RULE = re.compile(rf"^(?P<id>{RULE_ID})(?::|\.|\)|\s+-)(?=\s|$)")
TEXT_RULE = re.compile(rf"^\s*(?P<id>{RULE_ID}):(?=\s|$)")
NUMBERED_RULE = re.compile(r"^\s{0,3}(?:§\s*)?(?P<id>\d{1,3}(?:\.\d{1,3}){1,3})\.?\s+(?=\S)")
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:\s+(.*?))?(?:\s+#+)?\s*$")
FENCE = re.compile(r"^ {0,3}(```|~~~)")
MAX_TEXT_HEADING = 100  # a longer rule line in a .txt is shortened in the heading (the full line stays in the text)


@dataclass(frozen=True)
class Chunk:
    """A piece of a guideline document, the unit that is embedded, indexed and retrieved."""

    id: str
    source: str  # the document's file name
    heading: str  # heading path, " > "-joined
    rule_id: str | None
    text: str  # the section's text, without the heading line

    @property
    def embedding_text(self) -> str:
        """What is embedded (and stored as the langchain page content): the heading path, then the text."""
        return f"{self.heading}\n\n{self.text}".strip()

    def to_dict(self) -> dict[str, str | None]:
        """The JSON form stored in the manifest."""
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> "Chunk":
        """Inverse of ``to_dict``."""
        return cls(row["id"], row["source"], row["heading"], row.get("rule_id"), row["text"])


@dataclass
class _Section:
    path: tuple[str, ...]
    rule_id: str | None
    level: int
    lines: list[str]


def rule_id_of(heading: str) -> str | None:
    """The rule id a heading starts with (``G3: Move account questions to DM`` -> ``G3``), else None."""
    match = HEADING_RULE.match(heading.strip())
    return match["id"] if match else None


def chunk_document(source: str, kind: str, text: str, max_chars: int = MAX_CHARS) -> list[Chunk]:
    """Split a document's text into heading-aware chunks (``kind`` "markdown" or "text"/"pdf")."""
    if max_chars < 100:
        raise ValueError(f"max_chars must be at least 100, got {max_chars}")
    stem = PurePath(source).stem
    sections = _markdown_sections(text) if kind == "markdown" else _text_sections(text, stem)
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for section in sections:
        body = _normalise("\n".join(section.lines))
        if not body and section.rule_id is None:
            continue
        heading = " > ".join(section.path) or stem
        for piece, piece_text in enumerate(_split(body, max_chars) if body else [""]):
            chunk_id = _chunk_id(source, heading, piece, piece_text, seen)
            chunks.append(Chunk(chunk_id, source, heading, section.rule_id, piece_text))
    if not chunks:
        raise EmptyDocument(f"{source} has headings but no text to index.")
    return chunks


def _markdown_sections(text: str) -> list[_Section]:
    stack: list[tuple[int, str]] = []
    current = _Section((), None, 0, [])
    sections = [current]
    in_fence = False
    for line in text.split("\n"):
        if FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else ATX_HEADING.match(line)
        if match is None:
            numbered = None if in_fence or current.rule_id is not None and current.level > 0 else NUMBERED_RULE.match(line)
            if numbered and (not current.lines or not current.lines[-1].strip()):
                parent = current.path[:-1] if current.level == 0 and current.rule_id else current.path
                current = _Section((*parent, _short(line.strip())), numbered["id"], 0, [line])
                sections.append(current)
                continue
            current.lines.append(line)
            continue
        level, title = len(match[1]), (match[2] or "").strip()
        # a sub-heading stays inside the chunk of a rule opened by a heading; a numbered paragraph (level 0) ends at any
        if current.rule_id is not None and current.level > 0 and level > current.level:
            current.lines.append(line)
            continue
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        current = _Section(tuple(t for _, t in stack if t), rule_id_of(title), level, [])
        sections.append(current)
    return sections


def _text_sections(text: str, stem: str) -> list[_Section]:
    current = _Section((stem,), None, 0, [])
    sections = [current]
    for line in text.split("\n"):
        match = TEXT_RULE.match(line)
        numbered = None if match else NUMBERED_RULE.match(line)
        if match is None and numbered is None:
            current.lines.append(line)
            continue
        title = line.strip()
        short = _short(title)
        current = _Section((stem, short), (match or numbered)["id"], 1, [] if short == title else [title])
        sections.append(current)
    return sections


def _short(title: str) -> str:
    """A rule line as a heading: whole when short, else its opening words."""
    return title if len(title) <= MAX_TEXT_HEADING else title[:MAX_TEXT_HEADING].rsplit(" ", 1)[0] + "..."


def _normalise(text: str) -> str:
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _split(text: str, max_chars: int, seps: tuple[str, ...] = ("\n\n", "\n", " ")) -> list[str]:
    """Pieces of at most ``max_chars``, cut at the coarsest boundary that works (paragraph, line, word)."""
    if len(text) <= max_chars:
        return [text]
    if not seps:
        return [text[i : i + max_chars] for i in range(0, len(text), max_chars)]
    sep, finer = seps[0], seps[1:]
    parts = [p.strip() for p in text.split(sep) if p.strip()]
    small = [s for part in parts for s in _split(part, max_chars, finer)]
    pieces, current = [], ""
    for part in small:
        if current and len(current) + len(sep) + len(part) > max_chars:
            pieces.append(current)
            current = part
        else:
            current = f"{current}{sep}{part}" if current else part
    return pieces + [current] if current else pieces


def _chunk_id(source: str, heading: str, piece: int, text: str, seen: set[str]) -> str:
    """sha256 of source, heading, piece index and text; a repeated section gets its occurrence number mixed in."""
    key, n = "\x1f".join((source, heading, str(piece), text)), 0
    while True:
        chunk_id = hashlib.sha256(f"{key}\x1f{n}".encode() if n else key.encode()).hexdigest()[:16]
        if chunk_id not in seen:
            seen.add(chunk_id)
            return chunk_id
        n += 1
