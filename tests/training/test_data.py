from assistant.conversation import parse_conversation
from assistant.prompts import CHAT_RESPONSE_PREFIX, build_summary_prompt
from tests.conftest import CHATML
from training.data import build_examples, format_example

CONV = parse_conversation("Customer: @acme where is my order? https://t.co/x\nAgent: @12 shipped today ^JL")
SUMMARY = "Customer asks about an order. Agent says it shipped today."


def test_llama2_example_is_prompt_plus_summary_and_eos():
    ex = format_example(CONV, SUMMARY, "llama2")
    assert ex.prompt.startswith("<s>[INST] <<SYS>>\n") and ex.prompt.endswith(" [/INST]")
    assert ex.completion == f" {SUMMARY} </s>"
    assert "Customer: where is my order?\nAgent: shipped today\n" in ex.prompt  # cleaned like inference


def test_chat_template_example_has_no_zero_shot_prefix_and_ends_the_turn():
    ex = format_example(CONV, SUMMARY, "chat_template", template=CHATML)
    inference = build_summary_prompt(parse_conversation("Customer: where is my order?\nAgent: shipped today"),
                                     "chat_template", template=CHATML)
    assert ex.prompt + CHAT_RESPONSE_PREFIX == inference.text  # same prompt as inference, minus the prefix
    assert ex.completion == SUMMARY + "<|im_end|>\n"


def test_first_or_all_targets(tweetsumm_dir):
    from training.tweetsumm import load_split

    convs = load_split("test", tweetsumm_dir, limit=5)
    first = list(build_examples(convs, "llama2"))
    every = list(build_examples(convs, "llama2", targets="all"))
    assert len(first) == 5 and len(every) == sum(len(c.meta["abstractive_summaries"]) for c in convs)
    assert first[0].completion == f" {convs[0].meta['abstractive_summaries'][0]} </s>"


def test_prepare_writes_splits_and_stats(tiny_llama, tweetsumm_dir, tmp_path, capsys):
    import json

    from training.prepare import main

    assert main(["--model", str(tiny_llama), "--data-dir", str(tweetsumm_dir), "--out", str(tmp_path)]) == 0
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["format"] == "chat_template"
    assert {s: v["examples"] for s, v in stats["splits"].items()} == {"train": 879, "valid": 110, "test": 110}
    first = json.loads((tmp_path / "train.jsonl").read_text().splitlines()[0])
    assert first["completion"].endswith("<|im_end|>\n") and "<conversation>" in first["prompt"]
    assert "train" in capsys.readouterr().out


def test_prepare_reports_missing_data(tiny_llama, tmp_path, capsys):
    from training.prepare import main

    assert main(["--model", str(tiny_llama), "--data-dir", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "not found" in capsys.readouterr().err
