"""The language-model judge trainer (training.lm_judge) on a tiny random-weight Llama built in-process: it asks the
audit's own prompt, its split forward gives the P(yes) the serving path reads, and a run trains, writes an adapter
the audit takes, and resumes to the same weights."""

from __future__ import annotations

import json

import pytest

from assistant.conversation import Conversation, Turn

CONV = Conversation((Turn("customer", "My parcel never came."), Turn("agent", "@1 Sorry! DM us the order number. ^JK"),
                     Turn("customer", "done"), Turn("agent", "@1 Thanks, a refund is on its way. ^JK")), "c1")


@pytest.fixture()
def tiny_peft(tiny_llama):
    """The tiny Llama with a LoRA on its top layer whose B matrices are random (a fresh LoRA is the identity)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.lm_judge import TARGETS

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=list(TARGETS), layers_to_transform=[1],
                                             layers_pattern="layers", lora_dropout=0.0))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    return model.eval(), AutoTokenizer.from_pretrained(tiny_llama)


def test_the_split_forward_gives_the_p_yes_the_serving_path_reads(tiny_peft, tiny_llama):
    import torch

    from assistant.backends.transformers_backend import TransformersGenerator
    from assistant.prompts import check_messages, renderer_for
    from training.lm_judge import SplitModel, answer_ids, pad

    model, tok = tiny_peft
    judge = TransformersGenerator(str(tiny_llama), model=model, tokenizer=tok, model_name="tiny")
    render = renderer_for(judge)
    prompts = [render(check_messages(CONV, "Sign every reply.", "Is this reply signed?", t)) for t in (1, 3)]
    yes, no = answer_ids(tok)
    assert yes and no and not set(yes) & set(no)
    split = SplitModel(model, 1, yes, no)
    with torch.no_grad():
        logits = split(*pad([tok(p, add_special_tokens=False)["input_ids"] for p in prompts], 0))
    served = [judge.choice_probabilities(p, ("yes", "no"))[0] for p in prompts]
    assert torch.sigmoid(logits).tolist() == pytest.approx(served, abs=1e-5)  # padding changes nothing either
    with pytest.raises(ValueError, match="top_layers"):
        SplitModel(model, 3, yes, no)


def test_the_example_is_asked_as_the_audit_asks_it_with_its_edited_message():
    from assistant.prompts import check_messages
    from training.judge_data import JudgeExample
    from training.lm_judge import check_prompt, shown_conversation

    edited = JudgeExample("c1", "signature", "form", 1, "Sign every reply.", "Is this reply signed?", "no", "removed",
                          "@1 Sorry! DM us the order number.", "", "")
    shown = shown_conversation(CONV, edited)
    assert shown.turns[1].text == "@1 Sorry! DM us the order number." and shown.turns[3] == CONV.turns[3]
    assert check_prompt(lambda m: m, CONV, edited) == check_messages(shown, "Sign every reply.", "Is this reply signed?", 1)
    whole = JudgeExample("c1", "refund_request", "compensation", None, "g", "Does the customer ask for a refund?", "no",
                         "original", "", "", "")
    assert shown_conversation(CONV, whole) is CONV


def test_batches_hold_similar_lengths_and_cover_every_example_once():
    from training.lm_judge import batches

    lengths = [(i * 37) % 101 for i in range(300)]
    plan = batches(lengths, 4, seed=1)
    assert sorted(i for b in plan for i in b) == list(range(300)) and plan == batches(lengths, 4, seed=1)
    assert plan != batches(lengths, 4, seed=2)
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in plan) / len(plan)
    assert spread < 10  # random batches of 4 would spread about 50


def _args(out, tiny_llama, tweetsumm_dir):
    return ["--out", str(out), "--base", str(tiny_llama), "--examples", "16", "--valid", "8", "--held-back", "4",
            "--batch", "4", "--top-layers", "1", "--rank", "4", "--lr", "1e-2", "--limit-dialogs", "60",
            "--data-dir", str(tweetsumm_dir), "--save-every", "2", "--no-gguf", "--max-tokens", "4000"]  # a byte per token


def test_training_writes_an_adapter_the_audit_loads_and_resumes_to_the_same_weights(tiny_llama, tweetsumm_dir,
                                                                                      tmp_path, killed_at_step):
    import torch
    from safetensors.torch import load_file

    from assistant.models import resolve_adapter
    from training.lm_judge import main

    whole = tmp_path / "whole"
    assert main(_args(whole, tiny_llama, tweetsumm_dir)) == 0
    metrics = json.loads((whole / "metrics.json").read_text())
    assert metrics["steps"] == 4 and metrics["valid"]["n"] > 0 and "base_auc" in metrics["held_back"]
    assert not (whole / "checkpoint").exists() and "labels by construction" in (whole / "DATA_CARD.md").read_text()
    config = json.loads((whole / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_llama) and config["layers_to_transform"] == [1]
    assert resolve_adapter(str(whole), str(tiny_llama), "transformers") == str(whole / "adapter")

    killed_at_step(3, lambda: main(_args(tmp_path / "broken", tiny_llama, tweetsumm_dir)))
    assert main(_args(tmp_path / "broken", tiny_llama, tweetsumm_dir) + ["--resume"]) == 0
    a = load_file(whole / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "broken" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    (tmp_path / "broken" / "checkpoint").mkdir()
    torch.save({"fingerprint": "other", "recipe": {}}, tmp_path / "broken" / "checkpoint" / "state.pt")
    with pytest.raises(SystemExit, match="other data or another recipe"):
        main(_args(tmp_path / "broken", tiny_llama, tweetsumm_dir) + ["--resume"])


def test_a_split_forward_that_disagrees_with_the_model_stops_the_run(tiny_peft, tiny_llama):
    from assistant.backends.transformers_backend import TransformersGenerator
    from assistant.prompts import check_messages, renderer_for
    from training.lm_judge import SplitModel, agrees, answer_ids

    model, tok = tiny_peft
    judge = TransformersGenerator(str(tiny_llama), model=model, tokenizer=tok, model_name="tiny")
    prompt = renderer_for(judge)(check_messages(CONV, "Sign every reply.", "Is this reply signed?", 1))
    split = SplitModel(model, 1, *answer_ids(tok))
    agrees(split, judge, tok, prompt)  # the same model: passes
    judge.choice_probabilities = lambda p, c: [0.999, 0.001]  # a family whose forward does more than ours
    with pytest.raises(SystemExit, match="not supported"):
        agrees(split, judge, tok, prompt)


@pytest.mark.real_model
def test_training_reads_the_check_prompt_with_the_tokens_llama_cpp_serves():
    """The judge is trained on the HF tokenizer's ids and served by llama.cpp: the same prompt, the same ids, and the
    same first tokens of yes and no."""
    from transformers import AutoTokenizer

    from assistant.backends import load_generator
    from assistant.config import AssistantConfig
    from assistant.models import DEFAULT_MODEL, embedded_gguf
    from assistant.prompts import check_messages, renderer_for
    from training.lm_judge import answer_ids

    served = load_generator(AssistantConfig(model=DEFAULT_MODEL, adapter="none"))
    gguf = embedded_gguf(DEFAULT_MODEL)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    conv = Conversation((Turn("customer", "@Brand my café order 🙁 never came <|im_end|> é"),
                         Turn("agent", "@1 Sorry! DM us: https://t.co/x ^JK")))
    prompt = renderer_for(served)(check_messages(conv, "Sign every reply.", "Is this reply signed?", 1))
    assert served._tokenize(prompt) == tok(prompt, add_special_tokens=False)["input_ids"]
    assert answer_ids(tok) == tuple(sorted(ids) for ids in distinct(served))


def distinct(served) -> list[set[int]]:  # noqa: ANN001 - the llama.cpp generator
    from assistant.backends.base import distinct_first_tokens

    return distinct_first_tokens(("yes", "no"), served._first_tokens)
