"""The Generator protocol every backend implements: a rendered prompt in, streamed text out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol, runtime_checkable


@dataclass(frozen=True)
class GenerationParams:
    """Decoding settings shared by all backends."""

    max_new_tokens: int = 120
    """Upper bound on generated tokens (TweetSumm summaries average about 40 tokens)."""
    temperature: float = 0.0
    """0 means greedy decoding (deterministic; what evaluation uses)."""
    top_p: float = 1.0
    """Nucleus sampling mass when temperature > 0."""
    stop: tuple[str, ...] = field(default_factory=tuple)
    """Extra strings that end generation (the model's end-of-turn token always does)."""
    seed: int = 0
    """Sampling seed when temperature > 0."""
    json_schema: str | None = None
    """A JSON schema (as a JSON string) the output must follow. llama.cpp enforces it with a grammar
    (constrained decoding); other backends ignore it, so callers still parse and validate the output."""


@runtime_checkable
class Generator(Protocol):
    """A text generator. Backends: transformers, llama.cpp, OpenAI-compatible HTTP; tests use fakes."""

    backend: str
    """Short backend name, e.g. ``"llamacpp"``."""
    model_name: str
    """Readable model name for reports."""
    context_length: int
    """Maximum prompt + generated tokens."""

    @property
    def chat_template(self) -> str | None:
        """The model's Jinja chat template, or None if it has none."""

    @property
    def special_tokens(self) -> dict[str, str]:
        """``{"bos_token": ..., "eos_token": ...}`` as the chat template expects them."""

    def count_tokens(self, text: str) -> int:
        """Number of tokens of ``text`` as this model tokenizes a rendered prompt."""

    def stream(self, prompt: str, params: GenerationParams) -> Iterator[str]:
        """Yield generated text pieces for an already rendered ``prompt`` (no prompt echo)."""


def generate(gen: Generator, prompt: str, params: GenerationParams) -> str:
    """Whole generated text of ``gen`` for ``prompt`` (joins the stream)."""
    return "".join(gen.stream(prompt, params))


def answer_variants(word: str) -> set[str]:
    """How a model may start an answer with ``word``: bare, capitalised, after a space."""
    return {word, word.capitalize(), " " + word, " " + word.capitalize()}


def distinct_first_tokens(choices, first_tokens) -> list[set[int]]:  # noqa: ANN001 - words, word -> set of ids
    """Each choice's first tokens, without those two choices share (a bare space piece would count for both)."""
    ids = [set(first_tokens(c)) for c in choices]
    shared = {t for i, a in enumerate(ids) for b in ids[i + 1:] for t in a & b}
    return [a - shared for a in ids]


def shares(mass: list[float]) -> list[float]:
    """``mass`` normalised to sum to 1 (equal shares when all of it is 0)."""
    total = sum(mass)
    return [m / total if total > 0 else 1 / len(mass) for m in mass]
