"""The openai backend against a real server: llama-cpp-python's own OpenAI-compatible server, started on loopback
here on the embedded 0.5B GGUF. Marked real_model (it loads the real model); CI runs it."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from assistant.audit_service import audit_config
from assistant.backends import load_generator
from assistant.batch import endpoint_workers, read_batch, run_batch_on
from assistant.config import AssistantConfig
from assistant.guard import MARKER_RE
from assistant.local_server import llama_server
from assistant.models import AUDIT_MODEL, DEFAULT_MODEL, embedded_gguf
from assistant.prompts import render_prompt

pytestmark = pytest.mark.real_model
REPO = Path(__file__).resolve().parents[1]
CONVERSATION = ("Customer: my order 1234 has not arrived, it was due on Monday\n"
                "Agent: Sorry about that! I have asked the courier, you will get an update by tomorrow\n"
                "Customer: ok thanks\n")


@pytest.fixture(scope="module")
def served():
    with llama_server(embedded_gguf(DEFAULT_MODEL), DEFAULT_MODEL) as url:
        yield url


def test_summarize_through_the_served_model_is_a_real_summary(served, tmp_path):
    """What printed '[/INST]' before: the CLI with --backend openai and the embedded model's name."""
    (tmp_path / "c.txt").write_text(CONVERSATION)
    for fmt in ("auto", "chat_template"):
        out = subprocess.run([sys.executable, "-m", "supportlens", "summarize", str(tmp_path / "c.txt"), "--json",
                              "--backend", "openai", "--openai-base-url", served, "--model", DEFAULT_MODEL,
                              "--prompt-format", fmt], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        summary = json.loads(out.stdout)
        assert summary["backend"] == "openai" and summary["prompt_format"] == "chat_template"
        text = summary["text"]
        assert text.startswith("The customer") and not MARKER_RE.search(text) and len(text.split()) >= 8
        assert any(w in text.lower() for w in ("order", "courier", "arrive", "deliver", "update")), text


def test_served_choice_probabilities_favour_the_right_answer_like_the_local_model():
    """The default audit's judge (the audit model, served) weighs yes against no from the server's logprobs, as
    the same GGUF does in this process from its full next-token distribution."""
    config = audit_config(AssistantConfig(backend="openai", openai_base_url="http://unused/v1"))
    local = load_generator(audit_config(AssistantConfig()))

    def ask(question):
        return render_prompt([{"role": "user", "content": f"{question} Answer yes or no."}], "chat_template",
                             template=local.chat_template, **local.special_tokens)

    with llama_server(embedded_gguf(AUDIT_MODEL), AUDIT_MODEL) as url:
        gen = load_generator(replace(config, openai_base_url=url))
        assert gen.chat_template == local.chat_template
        right = gen.choice_probabilities(ask("Is Paris in France?"), ("yes", "no"))
        wrong = gen.choice_probabilities(ask("Is Paris in Japan?"), ("yes", "no"))
    assert sum(right) == pytest.approx(1.0) and right[0] > 0.5 > wrong[0]
    assert right[0] == pytest.approx(local.choice_probabilities(ask("Is Paris in France?"), ("yes", "no"))[0], abs=0.05)
    assert wrong[0] == pytest.approx(local.choice_probabilities(ask("Is Paris in Japan?"), ("yes", "no"))[0], abs=0.05)


def test_a_two_endpoint_batch_finishes_every_row(served, tmp_path):
    rows = "\n".join(json.dumps({"id": f"r{i}", "conversation": CONVERSATION.replace("1234", str(1000 + i))})
                     for i in range(4)).encode()
    config = AssistantConfig(backend="openai", model=DEFAULT_MODEL, openai_base_urls=(served, served))
    run = run_batch_on(read_batch(rows, "rows.jsonl"), tmp_path / "batch", endpoint_workers(config))
    assert [r.id for r in run.results] == ["r0", "r1", "r2", "r3"] and run.endpoints == 2
    assert all(not r.error and r.summary.startswith("The customer") and not MARKER_RE.search(r.summary)
               for r in run.results), [r.error or r.summary for r in run.results]
    assert run.processed == 4 and run.rows_per_s > 0
