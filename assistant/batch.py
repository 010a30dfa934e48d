"""Batch jobs: summarize and/or audit every conversation of a CSV or JSONL file, resumably.

Accepted files:
- **CSV** with a header row. The conversation is in a column named ``conversation`` (or ``text``, ``dialog``,
  ``transcript``), in any format the app accepts (``Customer: ...`` lines, JSON turns...). An ``id`` column
  (or ``conversation_id``) names each row; otherwise the row number does.
- **JSONL**, one object per line: ``{"id": ..., "conversation": "..."}``, or ``{"id": ..., "turns": [...]}``,
  or a TweetSumm record (``conversation_id`` + ``turns``).

A row that cannot be read or processed is reported with its row number (the header is row 1 in a CSV, the first
line is row 1 in JSONL) and the others are still processed. Results are appended to a work folder named after the
file's content and the options, one line per finished row, so a re-run after a crash skips finished rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from assistant.conversation import Conversation, decode_input, from_turns, parse_conversation
from assistant.errors import InvalidConversation, SupportLensError
from assistant.journal import append_records, read_records

TEXT_COLUMNS = ("conversation", "text", "dialog", "transcript")
ID_COLUMNS = ("id", "conversation_id")
MAX_ROWS = 5000
MAX_BYTES = 50 * 2**20


@dataclass
class BatchItem:
    """One row of the input: its conversation, or why it could not be read."""

    row: int
    id: str
    conversation: Conversation | None = None
    error: str | None = None


@dataclass
class BatchResult:
    """One row's outcome."""

    row: int
    id: str
    summary: str = ""
    compliance_score: float | None = None
    violated: str = ""  # rule ids, space-separated
    findings: list[dict] = field(default_factory=list)
    error: str = ""


def read_batch(data: bytes, name: str) -> list[BatchItem]:
    """Rows of a CSV or JSONL upload (by extension, else sniffed); raises InvalidConversation for an unusable file."""
    if len(data) > MAX_BYTES:
        raise InvalidConversation(f"The file is {len(data) / 2**20:.0f} MB; the limit is {MAX_BYTES // 2**20} MB. Split it.")
    text = decode_input(data)
    if not text.strip():
        raise InvalidConversation("The file is empty.")
    is_jsonl = name.lower().endswith((".jsonl", ".json", ".ndjson")) or text.lstrip().startswith("{")
    items = _read_jsonl(text) if is_jsonl else _read_csv(text)
    if not items:
        raise InvalidConversation("No rows found in the file.")
    if len(items) > MAX_ROWS:
        raise InvalidConversation(f"The file has {len(items):,} rows; the limit is {MAX_ROWS:,}. Split it.")
    return items


def _read_csv(text: str) -> list[BatchItem]:
    reader = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower(): c for c in reader.fieldnames or [] if c}
    text_col = next((columns[c] for c in TEXT_COLUMNS if c in columns), None)
    if text_col is None:
        raise InvalidConversation(
            f"The CSV needs a column named one of {', '.join(TEXT_COLUMNS)} holding the conversation "
            f"(found: {', '.join(columns.values()) or 'no header'}).")
    id_col = next((columns[c] for c in ID_COLUMNS if c in columns), None)
    items = []
    for i, record in enumerate(reader, start=2):
        rid = (record.get(id_col) or "").strip() if id_col else ""
        items.append(_item(i, rid or f"row-{i}", lambda r=record: parse_conversation(r.get(text_col) or "")))
    return items


def _read_jsonl(text: str) -> list[BatchItem]:
    items = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            items.append(BatchItem(i, f"row-{i}", error=f"row {i}: not valid JSON ({exc.msg})"))
            continue
        if not isinstance(record, dict):
            items.append(BatchItem(i, f"row-{i}", error=f"row {i}: expected a JSON object"))
            continue
        rid = str(record.get("id") or record.get("conversation_id") or f"row-{i}")
        if "turns" in record:
            items.append(_item(i, rid, lambda r=record, rid=rid: from_turns(r["turns"], rid)))
        else:
            items.append(_item(i, rid, lambda r=record: parse_conversation(str(r.get("conversation") or r.get("text") or ""))))
    return items


def _item(row: int, rid: str, parse: Callable[[], Conversation]) -> BatchItem:
    try:
        conv = parse()
        if len(conv.turns) == 0:
            raise InvalidConversation("it has no turns")
        return BatchItem(row, rid, conversation=conv)
    except SupportLensError as exc:
        return BatchItem(row, rid, error=f"row {row}: {exc}")


def work_dir(data: bytes, options: dict, root: str | Path | None = None) -> Path:
    """The folder holding this upload's results for these options (same file + options = same folder)."""
    key = hashlib.sha256(data + json.dumps(options, sort_keys=True).encode()).hexdigest()[:16]
    base = Path(root) if root else Path(os.environ.get("SUPPORTLENS_DATA", Path.home() / ".local" / "share" / "supportlens"))
    return base / "batches" / key


def run_batch(items: list[BatchItem], folder: Path, *, summarize: Callable[[Conversation], str] | None = None,
              audit: Callable[[Conversation], object] | None = None,
              progress: Callable[[int, int], None] | None = None) -> list[BatchResult]:
    """Process every row (skipping rows finished in an earlier run) and return the results in row order."""
    done_path = folder / "results.jsonl"
    done: dict[int, BatchResult] = {}
    for row in read_records(done_path):
        try:
            done[row["row"]] = BatchResult(**row)
        except (KeyError, TypeError):
            continue  # not a result record: that row is redone
    with append_records(done_path) as write:
        for n, item in enumerate(items):
            if progress:
                progress(n, len(items))
            if item.row in done:
                continue
            result = _process(item, summarize, audit)
            write(asdict(result))
            done[item.row] = result
    if progress:
        progress(len(items), len(items))
    return [done[item.row] for item in items]


def _process(item: BatchItem, summarize, audit) -> BatchResult:  # noqa: ANN001
    result = BatchResult(item.row, item.id)
    if item.error:
        result.error = item.error
        return result
    try:
        if summarize:
            result.summary = summarize(item.conversation)
        if audit:
            report = audit(item.conversation)
            result.compliance_score = report.compliance_score
            result.violated = " ".join(f.rule_id or "?" for f in report.findings if f.verdict == "violated")
            result.findings = [{"rule_id": f.rule_id, "verdict": f.verdict, "evidence": f.evidence, "rationale": f.rationale}
                               for f in report.findings]
    except SupportLensError as exc:
        result.error = f"row {item.row}: {exc}"
    return result


def export(results: list[BatchResult], folder: Path) -> tuple[Path, Path]:
    """``results.csv`` (one line per row, findings as JSON) and ``results.json`` in ``folder``."""
    csv_path, json_path = folder / "results.csv", folder / "results.json"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["row", "id", "summary", "compliance_score", "violated", "error", "findings"])
        for r in results:
            writer.writerow([r.row, r.id, r.summary, "" if r.compliance_score is None else round(r.compliance_score, 4),
                             r.violated, r.error, json.dumps(r.findings, ensure_ascii=False) if r.findings else ""])
    json_path.write_text(json.dumps([asdict(r) for r in results], ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return csv_path, json_path
