"""Append-only JSONL journals that survive a kill: a record per line, flushed as written.

Used for resumable work (evaluation generations, batch rows): a process killed mid-write leaves at most one torn
last line, which reading skips and the next append terminates, so that work is simply redone.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


def read_records(path: Path) -> list[dict]:
    """The JSON objects of ``path``'s lines, in order; torn or non-object lines are skipped ([] if no file)."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


@contextmanager
def append_records(path: Path) -> Iterator[Callable[[dict], None]]:
    """A function that appends one record to ``path`` and flushes it (the folder is created if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torn = path.is_file() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    with open(path, "a", encoding="utf-8") as out:
        if torn:
            out.write("\n")  # end the line a kill cut short, so the next record starts clean

        def write(record: dict) -> None:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()

        yield write
