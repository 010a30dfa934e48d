"""Conversation -> summary: cleaning, prompt building, generation with streaming, checks and timings.

A conversation whose prompt does not fit the model's context (less room for the summary) is summarized in parts:
split at message boundaries (``assistant.parts``), each part summarized with the same prompt, then the final summary
written from the part summaries in order (``build_combine_prompt``; groups of them first when they do not all fit).
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable, Iterator, Sequence

from assistant.backends.base import GenerationParams, Generator
from assistant.cleaning import clean_conversation
from assistant.config import AssistantConfig
from assistant.conversation import Conversation, Turn, parse_conversation, validate
from jinja2.exceptions import TemplateError

from assistant.errors import GenerationFailed, InvalidConversation, ModelUnavailable
from assistant.guard import check_summary
from assistant.parts import balanced_pack, split_conversation
from assistant.prompts import (
    Prompt, PromptFormat, build_combine_prompt, build_summary_prompt, default_format, format_dialog,
)

# A small model sometimes prefixes its answer with a label; the summary is what follows it.
_LABEL_RE = re.compile(r"^\s*(?:\*\*)?(?:summary|abstractive summary)(?:\*\*)?\s*[:：]\s*(?:\*\*)?", re.IGNORECASE)


@dataclass(frozen=True)
class Summary:
    """A generated summary with what produced it and how long it took."""

    text: str
    model: str
    backend: str
    prompt_format: str
    prompt_tokens: int  # of the prompt that wrote the text (for a conversation in parts, the combining prompt)
    first_token_s: float
    total_s: float
    parts: int = 1  # how many parts a conversation too long for one prompt was summarized in
    cut_messages: int = 0  # messages longer than a part, cut at line or sentence boundaries to fit

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable form (what ``supportlens summarize --json`` prints)."""
        return asdict(self)


@dataclass(frozen=True)
class Prepared:
    """A cleaned, validated conversation with its rendered prompt and prompt length."""

    conversation: Conversation
    prompt: Prompt
    prompt_tokens: int


@dataclass(frozen=True)
class Parts:
    """A conversation too long for one prompt: its consecutive parts, each prepared like a short conversation."""

    conversation: Conversation
    parts: tuple[Prepared, ...]
    cut_messages: int  # messages longer than a part, cut at line or sentence boundaries


def postprocess(text: str) -> str:
    """Strip whitespace and a leading 'Summary:' label; collapse the summary to one paragraph."""
    text = _LABEL_RE.sub("", text.strip())
    return re.sub(r"\s*\n\s*", " ", text).strip()


class Summarizer:
    """Summarizes conversations with one generator; shared by the CLI, the app and evaluation."""

    def __init__(self, generator: Generator, config: AssistantConfig | None = None) -> None:
        self.generator = generator
        self.config = config or AssistantConfig()
        fmt = self.config.prompt_format
        self.prompt_format: PromptFormat = (
            default_format(generator.model_name, generator.chat_template is not None) if fmt == "auto" else fmt  # type: ignore[assignment]
        )
        self.params = GenerationParams(max_new_tokens=self.config.max_new_tokens, temperature=self.config.temperature)
        # The zero-shot response prefix steers base models; a fine-tuned adapter learned its own opening.
        self.response_prefix: str | None = "" if self.config.fine_tuned else None

    @property
    def budget(self) -> int:
        """Most prompt tokens: the context less room for the summary."""
        return self.generator.context_length - self.params.max_new_tokens

    def prepare(self, conv: Conversation | str) -> Prepared | Parts:
        """Parse (if text), clean and validate ``conv``, and render its prompt; a conversation whose prompt does not
        fit the context comes back in parts (``Parts``), split at message boundaries.

        Raises InvalidConversation when the conversation is unusable, or too long even in parts (``MAX_PARTS``).
        """
        if isinstance(conv, str):
            conv = parse_conversation(conv, max_chars=self.config.max_input_chars)
        else:
            validate(conv, max_chars=self.config.max_input_chars)
        if self.config.clean:
            conv = clean_conversation(conv, redact=self.config.redact)
            if not conv.turns:
                raise InvalidConversation("Nothing is left of the conversation after removing links and @handles.")
        prepared = self._prepared(conv, self._render(build_summary_prompt, conv))
        return prepared if prepared.prompt_tokens <= self.budget else self._split(conv)

    def _render(self, build: Callable[..., Prompt], content: Conversation | Sequence[str]) -> Prompt:
        """``build(content)`` in this summarizer's format, template and response prefix."""
        try:
            return build(content, self.prompt_format, template=self.generator.chat_template,
                         response_prefix=self.response_prefix, **self.generator.special_tokens)
        except TemplateError as exc:
            raise ModelUnavailable(
                f"The chat template of {self.generator.model_name} failed ({exc}). Set prompt_format: llama2, "
                "or give a working template (chat_template_file)."
            ) from exc

    def _prepared(self, conv: Conversation, prompt: Prompt) -> Prepared:
        return Prepared(conv, prompt, self.generator.count_tokens(prompt.text))

    def _split(self, conv: Conversation) -> Parts:
        """``conv`` in parts whose prompts fit. Messages are costed one by one; should a whole part's prompt still
        come out longer (tokens merging across a line break), the parts are made smaller by that much."""
        overhead = self.generator.count_tokens(self._render(build_summary_prompt, Conversation(())).text)

        def cost(turn: Turn) -> int:
            return self.generator.count_tokens(format_dialog(Conversation((turn,)))) + 1  # and its line break

        room = self.budget - overhead
        for _ in range(3):
            if room < 16:
                break
            split = split_conversation(conv, cost, room)
            parts = tuple(self._prepared(part, self._render(build_summary_prompt, part)) for part in split.parts)
            over = max(p.prompt_tokens for p in parts) - self.budget
            if over <= 0:
                return Parts(conv, parts, split.cut_messages)
            room -= over
        raise InvalidConversation(
            f"The model's context ({self.generator.context_length:,} tokens, {self.params.max_new_tokens} of them for "
            "the summary) leaves no room for the conversation. Use a larger n_ctx or a smaller max_new_tokens.")

    def part_summaries(self, parts: Parts) -> Iterator[str]:
        """Each part's summary, in order, as it is written."""
        for part in parts.parts:
            yield self.summarize(part).text

    def combine(self, parts: Parts, summaries: Sequence[str]) -> Prepared:
        """The prompt that writes the final summary from the part summaries, in order. When they do not all fit
        one prompt, consecutive groups of them are first summarized into one each (recursively)."""
        summaries = list(summaries)
        while True:
            prepared = self._prepared(parts.conversation, self._render(build_combine_prompt, summaries))
            if prepared.prompt_tokens <= self.budget:
                return prepared
            overhead = self.generator.count_tokens(self._render(build_combine_prompt, []).text)
            costs = [self.generator.count_tokens(s) + 8 for s in summaries]  # with its "Part n: " label
            groups = balanced_pack(costs, self.budget - overhead) if max(costs) <= self.budget - overhead else []
            if not 1 < len(groups) < len(summaries):
                raise GenerationFailed(
                    f"The part summaries do not fit the model's context ({self.generator.context_length:,} tokens) "
                    "to be combined. Use a larger n_ctx or a smaller max_new_tokens.")
            summaries = [self.summarize(self._prepared(parts.conversation, self._render(
                build_combine_prompt, summaries[g.start:g.stop]))).text for g in groups]

    def stream(self, conv: Conversation | str | Prepared) -> Iterator[str]:
        """Yield the raw summary text as it is generated, starting with the prompt's response prefix.

        Only for a conversation whose prompt fits (a ``Prepared``); a long one is summarized with ``summarize``
        or, streaming, with ``part_summaries`` then ``combine`` (as ``SummaryService.stream_summary`` does).
        """
        prepared = conv if isinstance(conv, Prepared) else self.prepare(conv)
        if isinstance(prepared, Parts):
            raise InvalidConversation("This conversation is summarized in parts: use summarize(), not stream().")
        if prepared.prompt.response_prefix:
            yield prepared.prompt.response_prefix
        yield from self.generator.stream(prepared.prompt.text, self.params)

    def summarize(self, conv: Conversation | str | Prepared | Parts,
                  progress: Callable[[int, int], None] | None = None) -> Summary:
        """Summarize ``conv`` (in parts when it is too long for one prompt, calling ``progress(done, total)`` after
        each part); raises GenerationFailed rather than return an empty summary."""
        prepared = conv if isinstance(conv, (Prepared, Parts)) else self.prepare(conv)
        start = time.perf_counter()
        if isinstance(prepared, Prepared):
            return self._generate(prepared, start)
        summaries = []
        for summary in self.part_summaries(prepared):
            summaries.append(summary)
            if progress:
                progress(len(summaries), len(prepared.parts))
        final = self._generate(self.combine(prepared, summaries), start)
        return replace(final, parts=len(prepared.parts), cut_messages=prepared.cut_messages)

    def _generate(self, prepared: Prepared, start: float) -> Summary:
        """The summary of one prompt; timings count from ``start``."""
        first: float | None = None
        pieces = []
        for piece in self.generator.stream(prepared.prompt.text, self.params):
            if first is None:
                first = time.perf_counter() - start
            pieces.append(piece)
        total = time.perf_counter() - start
        return self.finish(prepared.prompt.response_prefix + "".join(pieces), prepared, first or total, total)

    def finish(self, raw: str, prepared: Prepared, first_token_s: float, total_s: float) -> Summary:
        """Post-process raw text (response prefix included) into a Summary, refusing an empty one, format markers
        and an echo of the prompt (``assistant.guard``)."""
        text = postprocess(raw)
        if not postprocess(raw[len(prepared.prompt.response_prefix):]):
            raise GenerationFailed(
                f"The model ({self.generator.model_name}) returned an empty summary. Try again, or use a larger model."
            )
        check_summary(text, prepared.prompt.text, self.generator.model_name)
        return Summary(text, self.generator.model_name, self.generator.backend, self.prompt_format,
                       prepared.prompt_tokens, round(first_token_s, 4), round(total_s, 4))
