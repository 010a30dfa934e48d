"""Batch jobs: summarize and/or audit every conversation of a CSV or JSONL file, resumably.

Accepted files:
- **CSV, one row per conversation**, with a header row. The conversation is in a column named ``conversation``
  (or ``text``, ``dialog``, ``transcript``), in any format the app accepts (``Customer: ...`` lines, JSON
  turns...). An ``id`` column (or ``conversation_id``) names each row; otherwise the row number does.
- **CSV, one row per message** (what helpdesk and chat tools export): recognised by a speaker column
  (``speaker``, ``role``, ``author``, ``sender``, ``from``, ``name``...) next to a message column (``text``,
  ``message``, ``body``, ``content``). Rows are grouped by a conversation column (``conversation_id``,
  ``ticket_id``, ``chat_id``, ``thread_id``, ``session_id``), in file order; without one the whole file is one
  conversation. A speaker that is a role word (customer, agent, visitor, operator, bot, system, end-user...)
  gives the role; a name gets its role the way pasted transcripts do (``agents=``, who opens the conversation),
  and a separate role column (``role``, ``author_type``...) beside a name column is used when present. A
  ``time``/``timestamp``/``created_at`` column is kept with each turn.
- **JSONL**, one object per line: ``{"id": ..., "conversation": "..."}``, or ``{"id": ..., "turns": [...]}``,
  or a TweetSumm record (``conversation_id`` + ``turns``).

A row that cannot be read or processed is reported with its row number (the header is row 1 in a CSV, the first
line is row 1 in JSONL) and the others are still processed. Results are appended to a work folder named after the
file's content and the options, one line per finished row, so a re-run after a crash skips finished rows.

Rows fan out to several endpoints (``run_batch_on`` with one ``Worker`` per served endpoint, ``endpoint_workers``
builds them from ``openai_base_urls``): each row goes to whichever endpoint is free, and the run reports rows/s.
Beyond one machine, put the servers (vLLM, llama.cpp) behind a load balancer and give its one URL, or orchestrate
batch across machines with Ray Data: this is a thread per endpoint, not a scheduler.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from assistant.config import AssistantConfig
from assistant.conversation import Conversation, decode_input, from_messages, from_turns, parse_conversation, validate
from assistant.errors import InvalidConversation, SupportLensError
from assistant.formats.base import ROLE_ALIASES, Message, Parsed
from assistant.journal import append_records, read_records

TEXT_COLUMNS = ("conversation", "text", "dialog", "transcript")
ID_COLUMNS = ("id", "conversation_id")
# One row per message: detected by header names.
MESSAGE_COLUMNS = ("text", "message", "body", "content", "message_text", "comment")
SPEAKER_COLUMNS = ("speaker", "author", "sender", "from", "name", "author_name", "sender_name", "user", "role")
ROLE_COLUMNS = ("role", "speaker_role", "author_type", "sender_type", "author_role", "user_role")
GROUP_COLUMNS = ("conversation_id", "ticket_id", "chat_id", "thread_id", "session_id", "conversation", "ticket")
TIME_COLUMNS = ("time", "timestamp", "created_at", "date", "sent_at", "datetime")
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


def read_batch(data: bytes, name: str, agents: Iterable[str] = ()) -> list[BatchItem]:
    """Rows of a CSV or JSONL upload (by extension, else sniffed); raises InvalidConversation for an unusable file.

    ``agents``: the company's agent names, used to decide roles where speakers are names (as in pastes).
    """
    if len(data) > MAX_BYTES:
        raise InvalidConversation(f"The file is {len(data) / 2**20:.0f} MB; the limit is {MAX_BYTES // 2**20} MB. Split it.")
    text = decode_input(data)
    if not text.strip():
        raise InvalidConversation("The file is empty.")
    is_jsonl = name.lower().endswith((".jsonl", ".json", ".ndjson")) or text.lstrip().startswith("{")
    agents = tuple(agents)
    items = _read_jsonl(text, agents) if is_jsonl else _read_csv(text, agents)
    if not items:
        raise InvalidConversation("No rows found in the file.")
    if len(items) > MAX_ROWS:
        raise InvalidConversation(f"The file has {len(items):,} rows; the limit is {MAX_ROWS:,}. Split it.")
    return items


def _read_csv(text: str, agents: tuple[str, ...]) -> list[BatchItem]:
    reader = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower(): c for c in reader.fieldnames or [] if c}
    if any(c in columns for c in MESSAGE_COLUMNS) and any(c in columns for c in SPEAKER_COLUMNS + ROLE_COLUMNS):
        return _read_message_rows(reader, columns, agents)
    text_col = next((columns[c] for c in TEXT_COLUMNS if c in columns), None)
    if text_col is None:
        raise InvalidConversation(
            f"The CSV needs a column named one of {', '.join(TEXT_COLUMNS)} holding the conversation, or one row per "
            f"message with a speaker column ({', '.join(SPEAKER_COLUMNS)}) and a message column "
            f"({', '.join(MESSAGE_COLUMNS)}) (found: {', '.join(columns.values()) or 'no header'}).")
    id_col = next((columns[c] for c in ID_COLUMNS if c in columns), None)
    items = []
    for i, record in enumerate(reader, start=2):
        rid = (record.get(id_col) or "").strip() if id_col else ""
        items.append(_item(i, rid or f"row-{i}", lambda r=record: parse_conversation(r.get(text_col) or "", agents=agents)))
    return items


def _read_message_rows(reader: csv.DictReader, columns: dict[str, str], agents: tuple[str, ...]) -> list[BatchItem]:
    """One row per message: rows grouped by conversation id in file order, one item per conversation."""
    pick = lambda names, skip=None: next((columns[c] for c in names if c in columns and columns[c] != skip), None)  # noqa: E731
    text_col, group_col, time_col = pick(MESSAGE_COLUMNS), pick(GROUP_COLUMNS), pick(TIME_COLUMNS)
    role_col = pick(ROLE_COLUMNS)
    name_col = pick(SPEAKER_COLUMNS, skip=role_col)
    groups: dict[str, tuple[int, list[tuple[int, dict]]]] = {}
    for i, record in enumerate(reader, start=2):
        key = (record.get(group_col) or "").strip() if group_col else "conversation-1"
        groups.setdefault(key or f"row-{i}", (i, []))[1].append((i, record))
    return [_item(first, key, lambda rows=rows, key=key: _conversation_of_rows(rows, key, text_col, name_col, role_col,
                                                                             time_col, agents))
            for key, (first, rows) in groups.items()]


def _conversation_of_rows(rows: list[tuple[int, dict]], key: str, text_col: str, name_col: str | None,
                          role_col: str | None, time_col: str | None, agents: tuple[str, ...]) -> Conversation:
    messages = []
    for i, record in rows:
        text = (record.get(text_col) or "").strip()
        if not text:
            continue
        name = (record.get(name_col) or "").strip() if name_col else ""
        label = (record.get(role_col) or "").strip() if role_col else ""
        if label.lower() not in ROLE_ALIASES and name.lower() in ROLE_ALIASES:
            label, name = name, ""  # the speaker column holds a role word, not a name
        if not label and not name:
            raise InvalidConversation(f"row {i} has no speaker ({', '.join(c for c in (name_col, role_col) if c)}).")
        role = ROLE_ALIASES.get(label.lower())
        time = (record.get(time_col) or "").strip() if time_col else ""
        messages.append(Message(text, name=name or (None if role else label), role=role,
                                reason=f'CSV speaker "{label}"' if role else "", time=time or None, line=i))
    return validate(from_messages(Parsed("csv-messages", tuple(messages), key), agents))


def _read_jsonl(text: str, agents: tuple[str, ...]) -> list[BatchItem]:
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
            items.append(_item(i, rid, lambda r=record: parse_conversation(str(r.get("conversation") or r.get("text") or ""),
                                                                          agents=agents)))
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


@dataclass(frozen=True)
class Worker:
    """What processes rows on one endpoint: its summarize and/or audit function (each bound to its own model)."""

    summarize: Callable[[Conversation], str] | None = None
    audit: Callable[[Conversation], object] | None = None


@dataclass(frozen=True)
class BatchRun:
    """A batch run's results in row order, and how fast the rows it processed went."""

    results: tuple[BatchResult, ...]
    processed: int  # rows processed in this run; rows finished by an earlier run are only read back
    seconds: float
    endpoints: int

    @property
    def rows_per_s(self) -> float:
        """Rows processed a second in this run (0.0 when it processed none)."""
        return self.processed / self.seconds if self.processed and self.seconds > 0 else 0.0


def run_batch_on(items: list[BatchItem], folder: Path, workers: Sequence[Worker],
                 progress: Callable[[int, int], None] | None = None) -> BatchRun:
    """Process every row not finished in an earlier run, each on whichever of ``workers`` is free (one thread per
    worker), journaling each result as it comes so a killed run resumes where it stopped; ``progress(done, total)``
    after each row. One worker processes the rows in order in the calling thread."""
    if not workers:
        raise ValueError("run_batch_on needs at least one worker")
    done_path = folder / "results.jsonl"
    done: dict[int, BatchResult] = {}
    for row in read_records(done_path):
        try:
            done[row["row"]] = BatchResult(**row)
        except (KeyError, TypeError):
            continue  # not a result record: that row is redone
    todo = [item for item in items if item.row not in done]
    if progress:
        progress(len(items) - len(todo), len(items))
    start, finished = time.perf_counter(), len(items) - len(todo)
    with append_records(done_path) as write:
        rows = _in_turn(todo, workers[0]) if len(workers) == 1 else _fanned_out(todo, workers)
        for result in rows:
            write(asdict(result))
            done[result.row] = result
            finished += 1
            if progress:
                progress(finished, len(items))
    return BatchRun(tuple(done[item.row] for item in items), len(todo), time.perf_counter() - start, len(workers))


def endpoint_workers(config: AssistantConfig, *, summarize: bool = True, kb=None) -> list[Worker]:  # noqa: ANN001
    """One Worker per endpoint of ``config`` (``openai_base_urls``; a single one for a local backend), writing
    summaries with ``config.model`` and/or auditing against the guidelines of ``kb`` (an organisation's opened
    knowledge base, duck-typed: this layer imports no store) with the audit model, on that endpoint."""
    from assistant.backends import load_generators
    from assistant.summarize import Summarizer

    count = len(config.endpoints) if config.backend == "openai" else 1
    summaries: list = [None] * count
    if summarize:
        summaries = [lambda conv, s=Summarizer(g, config): s.summarize(conv).text for g in load_generators(config)]
    audits: list = [None] * count
    if kb is not None:
        from assistant.audit_service import audit_config, build_auditor

        if config.audit_judge_path() is not None:  # the trained judge runs here, whatever the endpoints serve
            audits = [build_auditor(kb, config=config).audit for _ in range(count)]
        else:
            audits = [build_auditor(kb, config=config, generator=g).audit for g in load_generators(audit_config(config))]
    return [Worker(s, a) for s, a in zip(summaries, audits, strict=True)]


def _in_turn(todo: list[BatchItem], worker: Worker) -> Iterator[BatchResult]:
    for item in todo:
        yield _process(item, worker.summarize, worker.audit)


def _fanned_out(todo: list[BatchItem], workers: Sequence[Worker]) -> Iterator[BatchResult]:
    """Results in the order they finish, each row run by whichever worker is free. A failure that is not a row's
    own (a crash, an interrupt) stops the rows not yet started and is raised once the running ones finish."""
    free: queue.SimpleQueue[Worker] = queue.SimpleQueue()
    for worker in workers:
        free.put(worker)
    stop = threading.Event()

    def run(item: BatchItem) -> BatchResult | None:
        if stop.is_set():
            return None
        worker = free.get()  # one thread per worker: there is always a free one here
        try:
            return _process(item, worker.summarize, worker.audit)
        except BaseException:
            stop.set()  # not a row's own error (those are in its result): start no more rows
            raise
        finally:
            free.put(worker)

    pool = ThreadPoolExecutor(max_workers=len(workers), thread_name_prefix="batch")
    try:
        for future in as_completed([pool.submit(run, item) for item in todo]):
            result = future.result()
            if result is not None:
                yield result
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


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


def export(results: Sequence[BatchResult], folder: Path) -> tuple[Path, Path]:
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
