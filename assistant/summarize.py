"""Conversation -> summary: cleaning, prompt building, generation with streaming, checks and timings."""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from typing import Iterator

from assistant.backends.base import GenerationParams, Generator
from assistant.cleaning import clean_conversation
from assistant.config import AssistantConfig
from assistant.conversation import Conversation, parse_conversation, validate
from jinja2.exceptions import TemplateError

from assistant.errors import GenerationFailed, InvalidConversation, ModelUnavailable
from assistant.prompts import Prompt, PromptFormat, build_summary_prompt, default_format

# A small model sometimes prefixes its answer with a label; the summary is what follows it.
_LABEL_RE = re.compile(r"^\s*(?:\*\*)?(?:summary|abstractive summary)(?:\*\*)?\s*[:：]\s*(?:\*\*)?", re.IGNORECASE)


@dataclass(frozen=True)
class Summary:
    """A generated summary with what produced it and how long it took."""

    text: str
    model: str
    backend: str
    prompt_format: str
    prompt_tokens: int
    first_token_s: float
    total_s: float

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable form (what ``assistant summarize --json`` prints)."""
        return asdict(self)


@dataclass(frozen=True)
class Prepared:
    """A cleaned, validated conversation with its rendered prompt and prompt length."""

    conversation: Conversation
    prompt: Prompt
    prompt_tokens: int


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

    def prepare(self, conv: Conversation | str) -> Prepared:
        """Parse (if text), clean and validate ``conv``, and render its prompt.

        Raises InvalidConversation when the conversation is unusable or too long for the model's context.
        """
        if isinstance(conv, str):
            conv = parse_conversation(conv, max_chars=self.config.max_input_chars)
        else:
            validate(conv, max_chars=self.config.max_input_chars)
        if self.config.clean:
            conv = clean_conversation(conv, redact=self.config.redact)
            if not conv.turns:
                raise InvalidConversation("Nothing is left of the conversation after removing links and @handles.")
        try:
            prompt = build_summary_prompt(conv, self.prompt_format, template=self.generator.chat_template,
                                          response_prefix=self.response_prefix, **self.generator.special_tokens)
        except TemplateError as exc:
            raise ModelUnavailable(
                f"The chat template of {self.generator.model_name} failed ({exc}). Set prompt_format: llama2, "
                "or give a working template (chat_template_file)."
            ) from exc
        n_tokens = self.generator.count_tokens(prompt.text)
        budget = self.generator.context_length - self.params.max_new_tokens
        if n_tokens > budget:
            raise InvalidConversation(
                f"The conversation is too long for the model: {n_tokens:,} prompt tokens, at most {budget:,} fit "
                f"(context {self.generator.context_length:,} minus {self.params.max_new_tokens} for the summary). "
                "Split it into shorter parts and summarize each."
            )
        return Prepared(conv, prompt, n_tokens)

    def stream(self, conv: Conversation | str | Prepared) -> Iterator[str]:
        """Yield the raw summary text as it is generated, starting with the prompt's response prefix."""
        prepared = conv if isinstance(conv, Prepared) else self.prepare(conv)
        if prepared.prompt.response_prefix:
            yield prepared.prompt.response_prefix
        yield from self.generator.stream(prepared.prompt.text, self.params)

    def summarize(self, conv: Conversation | str | Prepared) -> Summary:
        """Summarize ``conv``; raises GenerationFailed rather than return an empty summary."""
        prepared = conv if isinstance(conv, Prepared) else self.prepare(conv)
        start = time.perf_counter()
        first: float | None = None
        pieces = []
        for piece in self.generator.stream(prepared.prompt.text, self.params):
            if first is None:
                first = time.perf_counter() - start
            pieces.append(piece)
        total = time.perf_counter() - start
        return self.finish(prepared.prompt.response_prefix + "".join(pieces), prepared, first or total, total)

    def finish(self, raw: str, prepared: Prepared, first_token_s: float, total_s: float) -> Summary:
        """Post-process raw text (response prefix included) into a Summary, refusing an empty one."""
        text = postprocess(raw)
        if not postprocess(raw[len(prepared.prompt.response_prefix):]):
            raise GenerationFailed(
                f"The model ({self.generator.model_name}) returned an empty summary. Try again, or use a larger model."
            )
        return Summary(text, self.generator.model_name, self.generator.backend, self.prompt_format,
                       prepared.prompt_tokens, round(first_token_s, 4), round(total_s, 4))
