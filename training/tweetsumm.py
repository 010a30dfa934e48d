"""TweetSumm loading, from either of two layouts of a data folder, giving the same Conversations.

1. Ours (``shared/data/tweetsumm/{train,valid,test}.jsonl``): records with dialog text (see its SOURCE.md).
2. The official release, which is what an outside user has: TweetSumm's
   ``final_{train,valid,test}_tweetsum.jsonl`` (tweet ids, sentence offsets, summaries; no text) plus
   Kaggle's "Customer Support on Twitter" ``twcs.csv``. A turn is the tweet's annotated sentences, cut
   by their offsets and joined by one space, as the official ``tweet_sum_processor.py`` does; the
   speaker is the customer when twcs says ``inbound``.

The folder is configurable: ``$SUPPORTLENS_TWEETSUMM`` or ``data_dir=``; by default the
``shared/data/tweetsumm`` folder beside the repository. The data is never copied into the repo.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Iterator

from assistant.conversation import Conversation, Turn, from_tweetsumm

SPLITS = ("train", "valid", "test")


def default_data_dir() -> Path:
    """``$SUPPORTLENS_TWEETSUMM`` or ``<repo>/../shared/data/tweetsumm``."""
    env = os.environ.get("SUPPORTLENS_TWEETSUMM")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data" / "tweetsumm"


def _official_paths(split: str, data_dir: Path) -> tuple[Path, Path] | None:
    """(final_<split>_tweetsum.jsonl, twcs.csv) if both are in ``data_dir`` (or its ``official/`` folder)."""
    for folder in (data_dir, data_dir / "official"):
        jsonl = folder / f"final_{split}_tweetsum.jsonl"
        if jsonl.is_file():
            for twcs in (folder / "twcs.csv", data_dir / "twcs.csv", folder / "twcs" / "twcs.csv"):
                if twcs.is_file():
                    return jsonl, twcs
    return None


def read_twcs(path: str | os.PathLike, tweet_ids: set[int]) -> dict[int, tuple[bool, str]]:
    """``{tweet_id: (inbound, text)}`` for the wanted ids, streaming twcs.csv (about 500 MB in full)."""
    csv.field_size_limit(min(sys.maxsize, 1 << 30))
    found: dict[int, tuple[bool, str]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"tweet_id", "inbound", "text"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path} is not Kaggle's twcs.csv: missing columns {', '.join(sorted(missing))}")
        for row in reader:
            try:
                tid = int(row["tweet_id"])
            except (TypeError, ValueError):
                continue
            if tid in tweet_ids:
                found[tid] = (row["inbound"].strip().lower() == "true", row["text"])
    return found


def _offsets(span: str) -> tuple[int, int]:
    start, end = json.loads(span)
    return int(start), int(end)


def iter_official(jsonl: str | os.PathLike, twcs: str | os.PathLike, limit: int | None = None) -> Iterator[Conversation]:
    """Conversations from an official ``final_*_tweetsum.jsonl`` joined with ``twcs.csv`` (first ``limit`` only)."""
    with open(jsonl, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()][:limit]
    wanted = {int(t["tweet_id"]) for r in records for t in r["tweet_ids_sentence_offset"]}
    tweets = read_twcs(twcs, wanted)
    if len(tweets) < len(wanted):
        raise ValueError(f"{twcs} lacks {len(wanted) - len(tweets)} of the {len(wanted)} tweets {Path(jsonl).name} needs")
    for record in records:
        turns = []
        for entry in record["tweet_ids_sentence_offset"]:
            inbound, text = tweets[int(entry["tweet_id"])]
            sentences = [text[a:b] for a, b in map(_offsets, entry["sentence_offsets"])]
            turns.append(Turn("customer" if inbound else "agent", " ".join(sentences)))
        summaries = [" ".join(a["abstractive"]) for a in record["annotations"] if a.get("abstractive")]
        yield Conversation(tuple(turns), record["conversation_id"], {"abstractive_summaries": summaries})


def iter_split(split: str, data_dir: str | os.PathLike | None = None, limit: int | None = None) -> Iterator[Conversation]:
    """Yield the conversations of ``split`` in file order; ``meta['abstractive_summaries']`` holds the references.

    Reads ``<split>.jsonl`` if present, else the official release files (see the module docstring).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    folder = Path(data_dir or default_data_dir())
    path = folder / f"{split}.jsonl"
    if not path.is_file():
        official = _official_paths(split, folder)
        if official:
            yield from iter_official(*official, limit=limit)
            return
        raise FileNotFoundError(
            f"TweetSumm split not found in {folder}: expected {split}.jsonl, or the official "
            f"final_{split}_tweetsum.jsonl with Kaggle's twcs.csv. Set SUPPORTLENS_TWEETSUMM to that folder."
        )
    count = 0
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if limit is not None and count >= limit:
                return
            if line.strip():
                count += 1
                try:
                    yield from_tweetsumm(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from exc


def load_split(split: str, data_dir: str | os.PathLike | None = None, limit: int | None = None) -> list[Conversation]:
    """The first ``limit`` (default all) conversations of ``split``."""
    return list(iter_split(split, data_dir, limit))


def find_dialogs(ids: set[str], data_dir: str | os.PathLike | None = None) -> dict[str, Conversation]:
    """The dialogs of ``ids`` by id, looked up in every split (validation, test, then train; stops once all are
    found). Ids not in the data are simply absent."""
    found: dict[str, Conversation] = {}
    for split in ("valid", "test", "train"):
        if ids <= found.keys():
            break
        found.update({c.conversation_id: c for c in iter_split(split, data_dir) if c.conversation_id in ids})
    return found
