"""What a summary must never be: prompt-format markers, or the prompt read back.

A model prompted in a format it was not trained on (a served model without its chat template, say) writes format
markers such as ``[/INST]`` or ``<|im_start|>``, or copies the conversation out; passed on as a summary, that
looks like a result and is not one. ``check_summary`` turns it into GenerationFailed with what to change.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from assistant.errors import GenerationFailed

# Llama-2 ([INST], <<SYS>>, <s>), ChatML and its kin (<|im_start|>, <|eot_id|>...), Gemma's turn tags, our fences.
MARKER_RE = re.compile(
    r"\[/?INST\]|<</?SYS>>|</?s>|<\|[A-Za-z_][\w.-]{0,40}\|>|<(?:start|end)_of_turn>|</?(?:conversation|summaries)>")
# Two or more speaker labels: transcript lines copied out, not a third-person summary.
_LABEL_RE = re.compile(r"(?:^|\s)(?:Customer|Agent)(?: \([^()]{1,60}\))?:")
_SUMMARIES_RE = re.compile(r"<summaries>.*?</summaries>", re.DOTALL)
#: Longest run of words copied verbatim from the prompt that a summary may hold: summaries quote a phrase, an
#: echo copies whole messages or instructions.
MAX_COPIED_WORDS = 25


def check_summary(text: str, prompt: str, model: str) -> None:
    """Raise GenerationFailed when ``text`` holds prompt-format markers, speaker-labelled transcript lines or a
    long verbatim copy of ``prompt``; return None for a usable summary."""
    marker = MARKER_RE.search(text)
    if marker:
        raise GenerationFailed(
            f"The model ({model}) answered with the prompt-format marker {marker.group(0)!r} instead of a summary: it "
            "was probably prompted in a format it was not trained on. For a served model give its chat template "
            "(--chat-template-from its .gguf or tokenizer folder, or --chat-template-file), or set --prompt-format.")
    copied = copied_words(text, prompt)
    if len(_LABEL_RE.findall(text)) >= 2 or copied > MAX_COPIED_WORDS:
        raise GenerationFailed(
            f"The model ({model}) copied the conversation or the instructions instead of summarizing "
            f"({copied} words verbatim). Check the prompt format (--prompt-format, the served model's chat "
            "template), or use a larger or fine-tuned model.")


def copied_words(text: str, prompt: str) -> int:
    """Length, in words, of the longest run of ``text`` found word for word in ``prompt``."""
    # Part summaries in a combining prompt are summaries already: the final one may well repeat one of them.
    words, source = text.split(), _SUMMARIES_RE.sub(" ", prompt).split()
    if not words or not source:
        return 0
    match = SequenceMatcher(None, words, source, autojunk=False).find_longest_match(0, len(words), 0, len(source))
    return match.size
