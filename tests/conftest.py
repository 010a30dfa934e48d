"""Shared fakes: a deterministic generator and paths to the shared TweetSumm data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from assistant.backends.base import GenerationParams

REPO = Path(__file__).resolve().parents[1]
TWEETSUMM = Path(os.environ.get("SUPPORTLENS_TWEETSUMM", REPO.parent / "shared" / "data" / "tweetsumm"))

# A minimal ChatML template, the shape Qwen's uses.
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class FakeGenerator:
    """Streams a fixed reply word by word and records the prompts it was given."""

    backend = "fake"

    def __init__(self, reply: str = " asked about a late order. The agent offered a replacement.",
                 template: str | None = CHATML, context_length: int = 4096, model_name: str = "fake-model") -> None:
        self.reply = reply
        self._template = template
        self.context_length = context_length
        self.model_name = model_name
        self.prompts: list[str] = []

    @property
    def chat_template(self) -> str | None:
        return self._template

    @property
    def special_tokens(self) -> dict[str, str]:
        return {"bos_token": "", "eos_token": "<|im_end|>"}

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, prompt: str, params: GenerationParams) -> Iterator[str]:
        self.prompts.append(prompt)
        words = self.reply.split(" ")
        for i, w in enumerate(words[: params.max_new_tokens]):
            yield w if i == 0 else " " + w


class WordsEmbedder:
    """A deterministic stand-in for a sentence encoder: a unit vector of hashed lower-cased words."""

    name = "words"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.calls = 0

    def embed(self, texts):  # noqa: ANN001, ANN201
        import hashlib
        import re

        import numpy as np

        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for w in re.findall(r"[a-z]+", text.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


class NumberedGenerator(FakeGenerator):
    """Replies "summary 1", "summary 2", ... in call order (plus ``filler`` words), so a test can follow each part's
    summary into the prompt that combines them."""

    def __init__(self, filler: int = 0, **kwargs) -> None:  # noqa: ANN003 - FakeGenerator's
        super().__init__(**kwargs)
        self.filler = filler

    def stream(self, prompt: str, params: GenerationParams) -> Iterator[str]:
        self.reply = f"summary {len(self.prompts) + 1}" + " and" * self.filler + "."
        yield from super().stream(prompt, params)


@pytest.fixture
def fake_generator() -> FakeGenerator:
    return FakeGenerator()


@pytest.fixture(scope="session")
def tweetsumm_dir() -> Path:
    if not (TWEETSUMM / "test.jsonl").is_file():
        pytest.skip(f"TweetSumm data not found at {TWEETSUMM}")
    return TWEETSUMM


def build_tiny_llama(out_dir: Path, seed: int = 0) -> Path:
    """Save a 2-layer random-weight Llama with a byte-level tokenizer (built in-process, nothing downloaded)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    byte_vocab = {ch: i for i, ch in enumerate(pre_tokenizers.ByteLevel.alphabet())}
    tok = Tokenizer(models.BPE(vocab=byte_vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    fast.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    fast.chat_template = CHATML
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(out_dir)
    fast.save_pretrained(out_dir)
    return out_dir


@pytest.fixture()
def killed_at_step(monkeypatch):  # noqa: ANN201 - a function
    """``killed_at_step(n, run)``: ``run()`` dies at its n-th AdamW step, as a killed training process would (the
    optimizer is whole again afterwards)."""
    import torch

    def kill(n: int, run) -> None:  # noqa: ANN001 - a callable
        real_step, calls = torch.optim.AdamW.step, []

        def step(self, *a, **k):  # noqa: ANN001, ANN202
            calls.append(1)
            if len(calls) == n:
                raise KeyboardInterrupt("killed")
            return real_step(self, *a, **k)

        monkeypatch.setattr(torch.optim.AdamW, "step", step)
        try:
            with pytest.raises(KeyboardInterrupt):
                run()
        finally:
            monkeypatch.setattr(torch.optim.AdamW, "step", real_step)

    return kill


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


class PlaybookJudge(FakeGenerator):
    """An audit judge for the sample playbook that finds every rule followed: P(yes) is high for the checks of
    the followed clauses (and the situations of not-applicable clauses) and low for every other question."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from assistant.clauses import as_question, checks_for, parse_clauses
        from tests.knowledge_base.conftest import PLAYBOOK

        sections = PLAYBOOK.read_text(encoding="utf-8").split("\n## ")[1:]
        checks = [c for s in sections for c in checks_for(parse_clauses(s)[1])]
        # yes: the followed clauses hold, and what "none" clauses say never happens does happen
        self.yes = {as_question(c.statement) or f'"{c.statement}"' for c in checks
                    if c.verdict == "followed" or c.scope == "none"}

    def choice_probabilities(self, prompt: str, choices) -> list[float]:  # noqa: ANN001 - a sequence of words
        self.prompts.append(prompt)
        question = prompt.rsplit("Question:", 1)[1].split("Answer yes or no.")[0].strip()
        return [0.9, 0.1] if question in self.yes or question.split("\n")[-1] in self.yes else [0.1, 0.9]


def pytest_collection_modifyitems(config, items) -> None:  # noqa: ANN001
    """Real-model runs start with the native check: tests/test_native.py goes first, and if llama.cpp cannot run
    an embedded model on this CPU, the run stops at once with the reason (model, CPU, build, what to do) instead
    of dying later with a bare signal inside some other test."""
    items.sort(key=lambda item: item.path.name != "test_native.py")  # stable: the rest keep their order
    if not any(item.get_closest_marker("real_model") for item in items):
        return
    from assistant.errors import SupportLensError
    from assistant.models import AUDIT_MODEL, DEFAULT_MODEL, embedded_gguf
    from assistant.preflight import ensure_runs

    for name in (DEFAULT_MODEL, AUDIT_MODEL):
        try:
            ensure_runs(name, embedded_gguf(name))
        except SupportLensError as exc:
            pytest.exit(f"The real-model tests cannot run on this machine.\n{exc}", returncode=3)
