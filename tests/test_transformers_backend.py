"""The transformers backend on a tiny random-weight Llama built in-process: streaming, PEFT adapter, NF4."""

import pytest

from assistant.backends.base import GenerationParams, generate
from assistant.backends.transformers_backend import TransformersGenerator
from assistant.errors import ModelUnavailable

PARAMS = GenerationParams(max_new_tokens=12)


def test_stream_matches_plain_model_generate(tiny_llama):
    import torch

    gen = TransformersGenerator(str(tiny_llama), device="cpu")
    prompt = "<|im_start|>user\nhello<|im_end|>\n"
    pieces = list(gen.stream(prompt, PARAMS))  # how many pieces depends on the random model's bytes: see below
    ids = gen._encode(prompt)["input_ids"]
    with torch.no_grad():
        out = gen._model.generate(ids, max_new_tokens=PARAMS.max_new_tokens, do_sample=False, pad_token_id=gen._tok.pad_token_id)
    assert "".join(pieces) == gen._tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    assert "".join(pieces) == generate(gen, prompt, PARAMS)  # deterministic
    assert gen.count_tokens("<|im_start|>ab") == 3  # special token + 2 bytes, no BOS added
    assert gen.chat_template and gen.special_tokens["eos_token"] == "</s>"


def test_streamer_yields_every_token_and_holds_back_a_split_character(tiny_llama):
    import torch

    from assistant.backends.transformers_backend import _TokenStreamer

    gen = TransformersGenerator(str(tiny_llama), device="cpu")
    streamer = _TokenStreamer(gen._tok)
    streamer.put(torch.tensor([[1, 2, 3]]))  # the prompt: never streamed
    for token in gen._tok("ab\u00e9c", add_special_tokens=False)["input_ids"]:  # a, b, two bytes of e-acute, c
        streamer.put(torch.tensor([token]))
    streamer.end()
    assert list(streamer) == ["a", "b", "\u00e9", "c"]


def test_closing_the_stream_stops_generation(tiny_llama):
    gen = TransformersGenerator(str(tiny_llama), device="cpu")
    lengths = []
    real_generate = gen._model.generate
    gen._model.generate = lambda **kw: lengths.append(real_generate(**kw).shape[1] - kw["input_ids"].shape[1])
    stream = gen.stream("abc", GenerationParams(max_new_tokens=300))
    next(stream)
    stream.close()  # joins the worker thread, which must see the halt flag and stop early
    assert lengths and lengths[0] < 300


def test_peft_adapter_changes_outputs(tiny_llama, tmp_path):
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    torch.manual_seed(1)
    lora = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(tmp_path / "adapter")

    plain = TransformersGenerator(str(tiny_llama), device="cpu")
    adapted = TransformersGenerator(str(tiny_llama), device="cpu", adapter=str(tmp_path / "adapter"))
    assert isinstance(adapted._model, PeftModel)
    assert adapted.model_name.endswith("+adapter")
    ids = plain._encode("hello there")["input_ids"]
    with torch.no_grad():
        assert not torch.allclose(plain._model(ids).logits, adapted._model(ids).logits)


def test_not_an_adapter_folder(tiny_llama, tmp_path):
    with pytest.raises(ModelUnavailable, match="not a PEFT adapter"):
        TransformersGenerator(str(tiny_llama), device="cpu", adapter=str(tmp_path))


def test_nf4_double_quant_on_cpu(tiny_llama):
    import bitsandbytes as bnb

    gen = TransformersGenerator(str(tiny_llama), device="cpu", load_in_4bit=True)
    layers = [m for m in gen._model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers, "no 4-bit layers"
    assert layers[0].weight.quant_state.nested  # double quantization
    assert layers[0].weight.quant_type == "nf4"
    assert len(generate(gen, "hello", PARAMS)) > 0


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailable, match="Could not load"):
        TransformersGenerator(str(tmp_path / "nope"), device="cpu")


def test_choice_probabilities_are_normalised_and_symmetric(tiny_llama):
    gen = TransformersGenerator(str(tiny_llama), device="cpu")
    prompt = "<|im_start|>user\nIs it raining?<|im_end|>\n<|im_start|>assistant\n"
    yes, no = gen.choice_probabilities(prompt, ("yes", "no"))
    assert yes + no == pytest.approx(1.0) and 0 < yes < 1
    assert gen.choice_probabilities(prompt, ("no", "yes")) == pytest.approx([no, yes])
    assert gen.choice_probabilities(prompt, ("yes", "yes")) == [0.5, 0.5]  # only shared tokens: no information


def test_distinct_first_tokens_drop_what_choices_share():
    from assistant.backends.base import distinct_first_tokens

    ids = {"yes": {1, 2, 9}, "no": {3, 9}, "maybe": {4}}
    assert distinct_first_tokens(("yes", "no", "maybe"), ids.get) == [{1, 2}, {3}, {4}]
