"""TweetSumm loading: records with dialog text from ``shared/data/tweetsumm/{train,valid,test}.jsonl``.

The data folder is configurable: ``$SUPPORTLENS_TWEETSUMM`` or ``data_dir=``; by default the
``shared/data/tweetsumm`` folder beside the repository. The data is never copied into the repo.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

from assistant.conversation import Conversation, from_tweetsumm

SPLITS = ("train", "valid", "test")


def default_data_dir() -> Path:
    """``$SUPPORTLENS_TWEETSUMM`` or ``<repo>/../shared/data/tweetsumm``."""
    env = os.environ.get("SUPPORTLENS_TWEETSUMM")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data" / "tweetsumm"


def iter_split(split: str, data_dir: str | os.PathLike | None = None) -> Iterator[Conversation]:
    """Yield the conversations of ``split`` in file order; ``meta['abstractive_summaries']`` holds the references."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    path = Path(data_dir or default_data_dir()) / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"TweetSumm split not found at {path}. Set SUPPORTLENS_TWEETSUMM to the folder holding {split}.jsonl."
        )
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if line.strip():
                try:
                    yield from_tweetsumm(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from exc


def load_split(split: str, data_dir: str | os.PathLike | None = None, limit: int | None = None) -> list[Conversation]:
    """The first ``limit`` (default all) conversations of ``split``."""
    out = []
    for conv in iter_split(split, data_dir):
        if limit is not None and len(out) >= limit:
            break
        out.append(conv)
    return out
