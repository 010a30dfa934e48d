import pytest

from assistant.config import AssistantConfig
from assistant.errors import GenerationFailed, InvalidConversation
from assistant.prompts import CHAT_RESPONSE_PREFIX
from assistant.parts import MAX_PARTS, balanced_pack, cut_text, pack
from supportlens.service import SummaryService
from assistant.summarize import Summarizer, postprocess
from tests.conftest import FakeGenerator, NumberedGenerator

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


# Long conversations: a fake with a 300-"token" (word) context, 20 of them for the summary
SMALL = AssistantConfig(max_new_tokens=20)


def long_chat(n_turns: int = 50, words: int = 12) -> str:
    """Alternating turns, each with its own marker word (m0, m1, ...) so a test can find it in the prompts."""
    return "\n".join(f"{('Customer', 'Agent')[i % 2]}: m{i} " + " ".join(["word"] * words) for i in range(n_turns))


def dialog_lines(prompt: str) -> list[str]:
    return prompt.split("<conversation>\n", 1)[1].split("\n</conversation>", 1)[0].split("\n")


def test_long_conversation_is_summarized_in_parts_split_between_messages():
    gen, calls = NumberedGenerator(context_length=300), []
    summary = Summarizer(gen, SMALL).summarize(long_chat(), progress=lambda done, total: calls.append((done, total)))
    *part_prompts, final = gen.prompts
    n = len(part_prompts)
    assert summary.parts == n >= 3 and summary.cut_messages == 0 and summary.text == f"summary {n + 1}."
    lines = [line for p in part_prompts for line in dialog_lines(p)]
    assert lines == long_chat().split("\n")  # every message in exactly one part, whole, in order
    assert all(gen.count_tokens(p) <= 300 - 20 for p in gen.prompts)
    sizes = [len(dialog_lines(p)) for p in part_prompts]
    assert 4 * min(sizes) >= 3 * max(sizes)  # balanced: no scrap of a last part
    assert calls == [(i, n) for i in range(1, n + 1)]
    assert "\n".join(f"Part {i}: summary {i}." for i in range(1, n + 1)) in final
    assert "consecutive parts of one conversation, in order" in final and "<conversation>" not in final


def test_a_conversation_that_fits_is_one_prompt_as_before(fake_generator):
    summary = Summarizer(fake_generator, SMALL).summarize(long_chat(4))
    assert summary.parts == 1 and len(fake_generator.prompts) == 1


def test_a_message_longer_than_a_part_is_cut_at_sentence_ends():
    sentences = [f"Sentence s{i} says " + "more " * 9 + "here." for i in range(40)]
    text = "Customer: my order m0 is late\nAgent: " + " ".join(sentences) + "\nCustomer: thanks m2"
    gen = NumberedGenerator(context_length=300)
    summary = Summarizer(gen, SMALL).summarize(text)
    assert summary.cut_messages == 1 and summary.parts > 2
    lines = [line for p in gen.prompts[:-1] for line in dialog_lines(p)]
    pieces = [line.removeprefix("Agent: ") for line in lines if line.startswith("Agent: ")]
    assert len(pieces) > 1 and all(piece.endswith("here.") for piece in pieces)  # cut between sentences
    assert " ".join(pieces) == " ".join(sentences) and lines[0] == "Customer: my order m0 is late"


def test_part_summaries_that_do_not_fit_together_are_combined_in_groups_first():
    gen = NumberedGenerator(filler=18, context_length=300)
    summary = Summarizer(gen, SMALL).summarize(long_chat(150))
    n = summary.parts
    combining = [p for p in gen.prompts if "<summaries>" in p]
    assert len(combining) >= 3 and len(gen.prompts) == n + len(combining)
    assert "Part 1: summary 1 and" in combining[0] and f"Part 1: summary {n + 1} and" in combining[-1]
    assert all(gen.count_tokens(p) <= 280 for p in gen.prompts)


def test_an_absurdly_long_conversation_is_refused_with_the_part_cap():
    gen = FakeGenerator(context_length=300)
    with pytest.raises(InvalidConversation, match=rf"{MAX_PARTS + 1} parts .* at most {MAX_PARTS} parts"):
        Summarizer(gen, SMALL).summarize(long_chat(2 * MAX_PARTS + 2, words=100))
    assert gen.prompts == []  # refused before any model work


def test_service_streams_progress_then_the_final_summary():
    svc = SummaryService(SMALL, factory=lambda config: NumberedGenerator(context_length=300))
    calls = []
    values = list(svc.stream_summary(long_chat(), progress=lambda done, total: calls.append((done, total))))
    n = calls[-1][1]
    assert values[:n + 1] == [f"Summarizing part {i} of {n}…" for i in range(1, n + 1)] + [
        f"Writing the summary from the {n} part summaries…"]
    assert values[-1] == f"summary {n + 1}." and calls == [(i, n) for i in range(1, n + 1)]


@pytest.mark.parametrize("costs, budget, runs", [
    ([3, 3, 3, 3], 6, [(0, 2), (2, 4)]),
    ([5, 1, 1, 1, 1, 1], 6, [(0, 2), (2, 6)]),
    ([], 6, []),
])
def test_pack(costs, budget, runs):
    assert [(r.start, r.stop) for r in pack(costs, budget)] == runs


def test_balanced_pack_keeps_the_number_of_runs_and_evens_them():
    costs = [2] * 11  # greedy at 10: 5 + 5 + 1 items; balanced: 4 + 4 + 3
    assert [len(r) for r in pack(costs, 10)] == [5, 5, 1]
    assert [len(r) for r in balanced_pack(costs, 10)] == [4, 4, 3]
    with pytest.raises(ValueError, match="more than the budget"):
        pack([11], 10)


def test_cut_text_prefers_lines_then_sentences_then_words():
    words = len  # cost = characters, to keep the arithmetic visible
    assert cut_text("aaaa\nbbbb\ncc", words, 9) == ["aaaa\nbbbb", "cc"]
    assert cut_text("One two. Three four. Five.", words, 12) == ["One two.", "Three four.", "Five."]
    assert cut_text("abcdefgh", words, 3) == ["ab", "cd", "ef", "gh"]


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
