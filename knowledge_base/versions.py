"""The on-disk layout of one organisation's store: complete version folders and an atomically switched pointer.

    <root>/<org>/CURRENT                 name of the live version folder (replaced with os.replace)
    <root>/<org>/v-<id>/manifest.json    format, org, embedder name+dim, documents, chunks in index order
    <root>/<org>/v-<id>/index.faiss      the raw faiss index (faiss.write_index); row i = manifest chunk i
    <root>/<org>/.lock                   held (flock) by a writer

A writer fills a new ``v-<id>/`` and fsyncs it, then replaces CURRENT, then removes the other version folders.
Until the replace, readers keep following the previous version; a folder left by a killed writer is never
pointed to and is removed by the next writer. No pickle anywhere: JSON and faiss's own format only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

from assistant.errors import require
from knowledge_base.errors import REBUILD_HINT, IndexCorrupt

FORMAT_VERSION = 1
VERSION_NAME = re.compile(r"v-[0-9a-f]{1,32}-[0-9a-f]{6}")
POINTER_TMP = "CURRENT.tmp-"


def _faiss() -> Any:
    return require("faiss", "pip install faiss-cpu")


class VersionFolder:
    """Reads and writes the versions of one organisation's folder; every failure to read is an IndexCorrupt."""

    def __init__(self, folder: Path, org: str) -> None:
        self.folder = folder
        self.org = org

    def corrupt(self, what: str) -> IndexCorrupt:
        """An IndexCorrupt saying what is wrong and how to rebuild."""
        return IndexCorrupt(f"The knowledge base of {self.org!r} ({self.folder}) is corrupt: {what}; "
                            + REBUILD_HINT.format(org=self.org))

    def current(self) -> str | None:
        """The live version's folder name, None when nothing was ever switched in."""
        try:
            name = (self.folder / "CURRENT").read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise self.corrupt(f"its CURRENT file is unreadable ({exc})") from exc
        if not VERSION_NAME.fullmatch(name):  # also what keeps a reader inside this organisation's folder
            raise self.corrupt(f"its CURRENT file names no version folder ({name[:40]!r})")
        return name

    def current_or_none(self) -> str | None:
        """Like ``current`` but None for a broken pointer too (for a rebuild, which replaces it anyway)."""
        try:
            return self.current()
        except IndexCorrupt:
            return None

    def read_manifest(self, name: str) -> dict:
        """The parsed manifest.json of version ``name`` (its fields are checked by the caller)."""
        try:
            manifest = json.loads((self.folder / name / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise self.corrupt(f"manifest.json is missing or unreadable ({type(exc).__name__}: {exc})") from exc
        if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
            version = manifest.get("format_version") if isinstance(manifest, dict) else None
            raise self.corrupt(f"unknown manifest format {version!r} (this code reads {FORMAT_VERSION})")
        return manifest

    def read_index(self, name: str) -> Any:
        """The faiss index of version ``name``."""
        path = self.folder / name / "index.faiss"
        if not path.is_file():
            raise self.corrupt(f"{name}/index.faiss is missing")
        try:
            return _faiss().read_index(str(path))
        except RuntimeError as exc:
            raise self.corrupt(f"{name}/index.faiss is unreadable ({str(exc).splitlines()[0]})") from exc

    def stored_hashes(self) -> dict[str, str]:
        """Document name -> sha256 of the live version, read leniently (empty when missing or broken)."""
        try:
            name = self.current()
            return {n: e["sha256"] for n, e in self.read_manifest(name)["documents"].items()} if name else {}
        except (IndexCorrupt, KeyError, TypeError, AttributeError):
            return {}

    def write(self, manifest: dict, index: Any) -> str:
        """Write a complete, fsynced ``v-<id>/`` and switch CURRENT to it; returns its name.

        On any failure before the switch the new folder is removed and the previous version stays live.
        """
        name = f"v-{time.time_ns():x}-{secrets.token_hex(3)}"
        target, pointer = self.folder / name, self.folder / f"{POINTER_TMP}{name}"
        target.mkdir(parents=True)
        switched = False
        try:
            _write_synced(target / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False).encode())
            _faiss().write_index(index, str(target / "index.faiss"))
            _fsync(target / "index.faiss")
            _fsync(target)
            _write_synced(pointer, f"{name}\n".encode())
            os.replace(pointer, self.folder / "CURRENT")
            switched = True
            _fsync(self.folder)  # make the rename itself durable
        finally:
            if not switched:
                shutil.rmtree(target, ignore_errors=True)
                pointer.unlink(missing_ok=True)
        return name

    def prune(self, keep: str | None) -> None:
        """Remove version folders and pointer temp files other than ``keep`` (older ones, or a crash's)."""
        if not self.folder.is_dir():
            return
        for path in self.folder.iterdir():
            if path.name != keep and (VERSION_NAME.fullmatch(path.name) or path.name.startswith(POINTER_TMP)):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise writers of this organisation; readers never lock, they follow CURRENT."""
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: single-writer use only
            fcntl = None
        with open(self.folder / ".lock", "a") as handle:
            if fcntl:
                fcntl.flock(handle, fcntl.LOCK_EX)
            yield  # the lock is released when the file is closed


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
