"""TweetSumm -> (prompt, completion) training examples, built with the shared prompt builder.

The prompt is exactly what inference sends (same cleaning, same messages, same renderer), minus the
zero-shot response prefix: a fine-tuned model writes its own opening ("Customer is complaining ...").
The completion is the target summary followed by the format's end of turn, so the loss can be put on
the summary tokens only:

- Llama-2 format (the seed's): `` {summary} </s>``;
- a chat template: whatever the template writes for an assistant message after the generation prompt
  (for Qwen's ChatML: ``{summary}<|im_end|>\\n``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Iterator, Literal

from assistant.cleaning import clean_conversation
from assistant.conversation import Conversation
from assistant.prompts import PromptFormat, build_summary_prompt, llama2_completion, render_chat_template, summary_messages

Targets = Literal["first", "all"]


@dataclass(frozen=True)
class Example:
    """One supervised example."""

    conversation_id: str
    prompt: str
    completion: str

    def to_dict(self) -> dict[str, str]:
        """JSON-serialisable form (one line of a prepared split)."""
        return asdict(self)


def chat_completion(template: str, conv: Conversation, summary: str, bos_token: str = "", eos_token: str = "") -> str:
    """The text a chat template puts after the generation prompt for an assistant turn holding ``summary``."""
    messages = summary_messages(conv)
    prompt = render_chat_template(template, messages, bos_token=bos_token, eos_token=eos_token)
    full = render_chat_template(template, [*messages, {"role": "assistant", "content": summary.strip()}],
                                bos_token=bos_token, eos_token=eos_token, add_generation_prompt=False)
    if not full.startswith(prompt):
        raise ValueError("this chat template renders the assistant turn inconsistently with its generation prompt")
    return full[len(prompt):]


def format_example(conv: Conversation, summary: str, fmt: PromptFormat, *, template: str | None = None,
                   bos_token: str = "", eos_token: str = "", clean: bool = True) -> Example:
    """One training example for ``conv`` with target ``summary`` in prompt format ``fmt``."""
    if clean:
        conv = clean_conversation(conv)
    prompt = build_summary_prompt(conv, fmt, template=template, bos_token=bos_token, eos_token=eos_token,
                                  response_prefix="").text
    if fmt == "llama2":
        completion = llama2_completion(summary)
    else:
        completion = chat_completion(template or "", conv, summary, bos_token, eos_token)
    return Example(conv.conversation_id or "", prompt, completion)


def build_examples(convs: Iterable[Conversation], fmt: PromptFormat, *, targets: Targets = "first",
                   template: str | None = None, bos_token: str = "", eos_token: str = "") -> Iterator[Example]:
    """Examples for every conversation: the first abstractive summary (the seed's choice) or all of them."""
    for conv in convs:
        summaries = conv.meta.get("abstractive_summaries") or []
        if not summaries:
            continue
        for summary in summaries if targets == "all" else summaries[:1]:
            yield format_example(conv, summary, fmt, template=template, bos_token=bos_token, eos_token=eos_token)
