"""assistant.guard: prompt-format markers and echoes of the prompt are never summaries."""

import pytest

from assistant.errors import GenerationFailed
from assistant.guard import MAX_COPIED_WORDS, check_summary, copied_words

PROMPT = ("<|im_start|>system\nYou summarize customer-support conversations.<|im_end|>\n<|im_start|>user\n<conversation>\n"
          "Customer: my parcel was supposed to arrive on Monday and it is now Thursday and nobody has told me anything "
          "about where it is or when it will come, which is not acceptable at all for an express delivery\n"
          "Agent: sorry, I have asked the depot\n</conversation>\n\nSummarize the conversation above.<|im_end|>\n"
          "<|im_start|>assistant\nThe customer")


@pytest.mark.parametrize("marker", ["[/INST]", "<|im_start|>", "<|im_end|>", "<</SYS>>", "<s>", "<end_of_turn>",
                                    "<|eot_id|>", "</conversation>"])
def test_markers_are_refused_with_the_fix(marker):
    with pytest.raises(GenerationFailed, match="chat-template-from") as info:
        check_summary(f"The customer {marker} asked.", PROMPT, "m")
    assert repr(marker) in str(info.value)


def test_an_echo_of_the_conversation_is_refused():
    echo = ("The customer my parcel was supposed to arrive on Monday and it is now Thursday and nobody has told me "
            "anything about where it is or when it will come, which is not acceptable")
    assert copied_words(echo, PROMPT) > MAX_COPIED_WORDS
    with pytest.raises(GenerationFailed, match="copied"):
        check_summary(echo, PROMPT, "m")
    with pytest.raises(GenerationFailed, match="copied"):  # transcript lines, however short
        check_summary("Customer: late parcel. Agent: asked the depot.", PROMPT, "m")


def test_real_summaries_pass_even_when_they_quote():
    check_summary("The customer complained that an express parcel due on Monday had still not arrived on Thursday. "
                  "The agent apologised and said 'I have asked the depot'.", PROMPT, "m")
    assert copied_words("The customer says it is now Thursday", PROMPT) == 4  # "it is now Thursday"
    part = " ".join(f"word{i}" for i in range(40))  # a combined summary may repeat a part summary word for word
    check_summary(part, f"<summaries>\nPart 1: {part}\n</summaries>", "m")
