"""What the app calls: one shared, lazily loaded summarizer per process, and example conversations.

The app (``app.py``) only wires widgets to these functions; errors stay domain errors here and are
turned into readable messages at the UI edge.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from assistant.config import AssistantConfig
from assistant.conversation import Conversation
from assistant.summarize import Summarizer

EXAMPLES_DIR = Path(__file__).parent / "examples"


@dataclass(frozen=True)
class Example:
    """A clickable example conversation for the app."""

    title: str
    text: str


class SummaryService:
    """Loads the model once (on first use, or eagerly with ``load``) and serialises generation.

    llama.cpp contexts are not thread-safe, so concurrent requests queue on one lock; Gradio's queue
    in front of it keeps the UI responsive.
    """

    def __init__(self, config: AssistantConfig, factory: Callable[[AssistantConfig], object] | None = None) -> None:
        self.config = config
        self._factory = factory
        self._summarizer: Summarizer | None = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    def load(self) -> Summarizer:
        """The shared Summarizer, built on first call (raises ModelUnavailable with a fix if it cannot be)."""
        with self._load_lock:
            if self._summarizer is None:
                if self._factory is None:
                    from assistant.backends import load_generator

                    generator = load_generator(self.config)
                else:
                    generator = self._factory(self.config)
                self._summarizer = Summarizer(generator, self.config)  # type: ignore[arg-type]
            return self._summarizer

    @property
    def model_label(self) -> str:
        """``model (backend)`` of the loaded model, or the configured one before loading."""
        if self._summarizer is None:
            return f"{self.config.model} ({self.config.backend})"
        gen = self._summarizer.generator
        return f"{gen.model_name} ({gen.backend})"

    def stream_summary(self, text: str | Conversation) -> Iterator[str]:
        """Yield the growing summary text; the last value is the post-processed summary.

        Raises InvalidConversation before any model work for bad input, GenerationFailed for an empty result.
        """
        summarizer = self.load()
        prepared = summarizer.prepare(text)
        prefix = prepared.prompt.response_prefix
        with self._run_lock:
            start = time.perf_counter()
            raw = ""
            for piece in summarizer.stream(prepared):
                raw += piece
                if len(raw) > len(prefix):  # the response prefix alone is not a summary yet
                    yield raw.lstrip()
        yield summarizer.finish(raw, prepared, 0.0, time.perf_counter() - start).text


def example_conversations(tweetsumm_dir: str | Path | None = None, n_tweetsumm: int = 3) -> list[Example]:
    """Our own fictional examples, then the first TweetSumm test dialogs when the data folder is present."""
    examples = [Example(p.stem.replace("_", " "), p.read_text(encoding="utf-8").strip())
                for p in sorted(EXAMPLES_DIR.glob("*.txt"))]
    try:
        from training.tweetsumm import load_split

        for conv in load_split("test", tweetsumm_dir, limit=n_tweetsumm):
            examples.append(Example(f"TweetSumm test {conv.conversation_id[:8]}", conv.to_text()))
    except (FileNotFoundError, ValueError):
        pass  # the data folder is optional for the app
    return examples
