"""Systems under evaluation and their generations, cached on disk so an interrupted run resumes.

A system is a name plus an ``AssistantConfig`` (model, backend, adapter, decoding). Each system's outputs go to
``RUN/generations/<name>.jsonl``, one line per dialog, flushed as soon as it is written; a line records the
hash of the system's config (adapter weights included), so a changed system is regenerated, never mixed.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from assistant.config import AssistantConfig, load_config
from assistant.conversation import Conversation
from assistant.errors import ConfigError, SupportLensError
from assistant.journal import append_records, read_records

# Settings that do not change what is generated.
# Settings that never change a summary: speed, input limits, and the audit's and the support check's own.
_NOT_HASHED = ("n_threads", "device", "max_input_chars", "compile_model")
_NOT_HASHED_PREFIXES = ("audit_", "support_")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,40}$")


@dataclass(frozen=True)
class System:
    """A named summarizer configuration."""

    name: str
    config: AssistantConfig

    def fingerprint(self) -> str:
        """Hash of everything that changes the outputs: config and the adapter's weights."""
        data = {k: v for k, v in asdict(self.config).items()
                if k not in _NOT_HASHED and not k.startswith(_NOT_HASHED_PREFIXES)}
        adapter = self.config.adapter_path()
        if adapter:
            data["adapter_sha256"] = _content_hash(Path(adapter))
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _content_hash(path: Path) -> str:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for p in files:
        digest.update(p.name.encode())
        digest.update(p.read_bytes())
    return digest.hexdigest()


def parse_system(spec: str) -> System:
    """``NAME``, ``NAME:key=value,key=value`` or ``NAME:path/to/config.yaml[,key=value...]``.

    Examples: ``base:adapter=none``, ``fine-tuned``, ``qwen1.5b:model=qwen2.5-coder-1.5b-instruct,adapter=none``.
    """
    name, _, rest = spec.partition(":")
    if not _NAME_RE.match(name):
        raise ConfigError(f"System name {name!r}: use letters, digits, '.', '_' or '-' (e.g. base:adapter=none)")
    path, overrides = None, {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, sep, value = item.partition("=")
        if sep:
            overrides[key.strip()] = value.strip()
        elif item.endswith((".yaml", ".yml")):
            path = item
        else:
            raise ConfigError(f"In system {spec!r}: {item!r} is neither key=value nor a .yaml config")
    return System(name, load_config(path, **overrides))


DEFAULT_SYSTEMS = ("base:adapter=none", "fine-tuned:adapter=auto")


@dataclass
class Generation:
    """One system's output on one dialog."""

    id: str
    prediction: str
    prompt: str = ""
    prompt_tokens: int = 0
    first_token_s: float = 0.0
    total_s: float = 0.0
    model: str = ""
    error: str | None = None
    fingerprint: str = ""
    extra: dict = field(default_factory=dict)


def read_cache(path: Path, fingerprint: str) -> dict[str, Generation]:
    """Finished generations of this system version (a torn last line from a kill is ignored)."""
    return {row["id"]: Generation(**{k: v for k, v in row.items() if k in Generation.__dataclass_fields__})
            for row in read_records(path) if row.get("fingerprint") == fingerprint and "id" in row}


SummarizerFactory = Callable[[AssistantConfig], object]


def _default_factory(config: AssistantConfig):  # noqa: ANN202 - assistant.summarize.Summarizer
    from assistant.backends import load_generator
    from assistant.summarize import Summarizer

    return Summarizer(load_generator(config), config)


def generate(system: System, dialogs: list[Conversation], cache: Path, *, factory: SummarizerFactory | None = None,
             progress: Callable[[Iterable], Iterable] | None = None) -> tuple[list[Generation], dict[str, float]]:
    """Generate (or read from ``cache``) ``system``'s summary of every dialog, in order.

    Returns the generations and timings: model load seconds, generation seconds of this call, reused count.
    A dialog the model cannot take (too long, empty output) is recorded with its error and scored as empty.
    """
    fingerprint = system.fingerprint()
    done = read_cache(cache, fingerprint)
    todo = [d for d in dialogs if d.conversation_id not in done]
    timings = {"load_s": 0.0, "generate_s": 0.0, "reused": len(dialogs) - len(todo), "generated": len(todo)}
    if todo:
        start = time.perf_counter()
        summarizer = (factory or _default_factory)(system.config)
        timings["load_s"] = time.perf_counter() - start
        start = time.perf_counter()
        with append_records(cache) as write:
            for conv in (progress(todo) if progress else todo):
                gen = _one(summarizer, conv, fingerprint)
                write(asdict(gen))
                done[gen.id] = gen
        timings["generate_s"] = time.perf_counter() - start
    return [done[d.conversation_id] for d in dialogs], timings


def _one(summarizer, conv: Conversation, fingerprint: str) -> Generation:  # noqa: ANN001
    cid = conv.conversation_id or ""
    try:
        prepared = summarizer.prepare(conv)
    except SupportLensError as exc:
        return Generation(cid, "", error=f"{type(exc).__name__}: {exc}", fingerprint=fingerprint)
    # a conversation summarized in parts has no one prompt: the record keeps the first part's
    first = prepared.parts[0] if hasattr(prepared, "parts") else prepared
    try:
        summary = summarizer.summarize(prepared)
    except SupportLensError as exc:
        return Generation(cid, "", prompt=first.prompt.text, prompt_tokens=first.prompt_tokens,
                          error=f"{type(exc).__name__}: {exc}", fingerprint=fingerprint)
    return Generation(cid, summary.text, prompt=first.prompt.text, prompt_tokens=summary.prompt_tokens,
                      first_token_s=summary.first_token_s, total_s=summary.total_s, model=summary.model,
                      fingerprint=fingerprint)
