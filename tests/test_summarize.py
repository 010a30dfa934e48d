import pytest

from assistant.config import AssistantConfig
from assistant.errors import GenerationFailed, InvalidConversation
from assistant.prompts import CHAT_RESPONSE_PREFIX
from assistant.summarize import Summarizer, postprocess
from tests.conftest import FakeGenerator

BASE = AssistantConfig(adapter="none")  # the base model alone: steered by the zero-shot response prefix
TEXT = "Customer: @acme my order is late https://t.co/x\nAgent: @123 sorry, sending a new one ^JL"


def test_summary_has_prefix_model_and_timings(fake_generator):
    summary = Summarizer(fake_generator, BASE).summarize(TEXT)
    assert summary.text == CHAT_RESPONSE_PREFIX + fake_generator.reply
    assert (summary.model, summary.backend, summary.prompt_format) == ("fake-model", "fake", "chat_template")
    assert summary.prompt_tokens > 10 and summary.total_s >= summary.first_token_s >= 0


def test_prompt_is_cleaned_like_training(fake_generator):
    Summarizer(fake_generator).summarize(TEXT)
    prompt = fake_generator.prompts[0]
    assert "Customer: my order is late\nAgent: sorry, sending a new one\n" in prompt
    assert "https" not in prompt and "^JL" not in prompt and "@acme" not in prompt


def test_no_cleaning_keeps_raw_text(fake_generator):
    Summarizer(fake_generator, AssistantConfig(clean=False)).summarize(TEXT)
    assert "^JL" in fake_generator.prompts[0]


def test_llama2_model_gets_seed_format():
    gen = FakeGenerator(model_name="Llama-2-7b-chat-hf")
    summary = Summarizer(gen).summarize(TEXT)
    assert gen.prompts[0].startswith("<s>[INST] <<SYS>>\n") and gen.prompts[0].endswith(" [/INST]")
    assert summary.text == gen.reply.strip() and summary.prompt_format == "llama2"


@pytest.mark.parametrize("reply", ["", "   \n ", "Summary:"])
def test_empty_generation_is_an_error_not_a_summary(reply):
    with pytest.raises(GenerationFailed, match="empty summary"):
        Summarizer(FakeGenerator(reply=reply)).summarize(TEXT)


def test_too_long_for_context():
    gen = FakeGenerator(context_length=300)
    long = "Customer: " + "word " * 400 + "\nAgent: ok"
    with pytest.raises(InvalidConversation, match="too long for the model"):
        Summarizer(gen).summarize(long)
    assert gen.prompts == []


def test_nothing_left_after_cleaning(fake_generator):
    with pytest.raises(InvalidConversation, match="Nothing is left"):
        Summarizer(fake_generator).summarize("Customer: https://t.co/a\nAgent: @123 ^JL")


def test_stream_starts_with_prefix(fake_generator):
    pieces = list(Summarizer(fake_generator, BASE).stream(TEXT))
    assert pieces[0] == CHAT_RESPONSE_PREFIX and len(pieces) > 3


@pytest.mark.parametrize("raw, clean", [
    ("  Summary: Customer asked.\nAgent answered. ", "Customer asked. Agent answered."),
    ("**Summary:** Customer asked.", "Customer asked."),
])
def test_postprocess(raw, clean):
    assert postprocess(raw) == clean


def test_adapter_runs_without_the_zero_shot_prefix():
    gen = FakeGenerator(reply="Customer asked. Agent answered.")
    summary = Summarizer(gen, AssistantConfig(backend="transformers", adapter="runs/x/adapter")).summarize(TEXT)
    assert summary.text == "Customer asked. Agent answered."
    assert not gen.prompts[0].endswith(CHAT_RESPONSE_PREFIX)


def test_default_is_fine_tuned_without_the_prefix(fake_generator):
    assert AssistantConfig().fine_tuned
    summary = Summarizer(fake_generator).summarize(TEXT)
    assert summary.text == fake_generator.reply.strip()
    assert not fake_generator.prompts[0].endswith(CHAT_RESPONSE_PREFIX)
