"""The OpenAI-compatible backend against a local fake server (loopback only)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import math

import pytest

from assistant.backends import load_generator, load_generators
from assistant.backends.base import GenerationParams, generate
from assistant.backends.openai_http import TOP_LOGPROBS, OpenAICompatibleGenerator
from assistant.config import AssistantConfig
from assistant.errors import ConfigError, GenerationFailed, ModelUnavailable
from assistant.summarize import Summarizer

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


class FakeCompletions(BaseHTTPRequestHandler):
    requests: list = []
    pieces = ["Customer ", "asked. ", "Agent ", "answered."]
    top_logprobs: dict | None = {"Yes": -0.3, "No": -1.5, " yes": -4.0, "The": -5.0, " ": -6.0}

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeCompletions.requests.append((self.path, dict(self.headers), body))
        if body["prompt"] == "fail":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b'{"error": "boom"}')
            return
        self.send_response(200)
        if not body.get("stream"):
            logprobs = None if self.top_logprobs is None else {"tokens": ["Yes"], "top_logprobs": [self.top_logprobs]}
            answer = {"choices": [{"text": "Yes", "logprobs": logprobs}]}
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(answer).encode())
            return
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for i, piece in enumerate(self.pieces):
            reason = "stop" if i == len(self.pieces) - 1 and body["prompt"] != "cut" else None
            self.wfile.write(f"data: {json.dumps({'choices': [{'text': piece, 'finish_reason': reason}]})}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeCompletions)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    FakeCompletions.requests.clear()
    FakeCompletions.pieces = ["Customer ", "asked. ", "Agent ", "answered."]
    FakeCompletions.top_logprobs = {"Yes": -0.3, "No": -1.5, " yes": -4.0, "The": -5.0, " ": -6.0}
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()


def test_streams_pieces_and_sends_prompt(server):
    gen = OpenAICompatibleGenerator(server, "llama-2-7b", api_key="secret")
    pieces = list(gen.stream("<s>[INST] hi [/INST]", GenerationParams(max_new_tokens=50, stop=("\n\n",))))
    assert pieces == ["Customer ", "asked. ", "Agent ", "answered."]
    path, headers, body = FakeCompletions.requests[0]
    assert path == "/v1/completions" and headers["Authorization"] == "Bearer secret"
    assert body["prompt"] == "<s>[INST] hi [/INST]" and body["max_tokens"] == 50 and body["stream"] is True
    assert body["stop"] == ["\n\n"]


def test_server_error_is_a_clear_message(server):
    with pytest.raises(GenerationFailed, match="HTTP 500"):
        generate(OpenAICompatibleGenerator(server, "m"), "fail", GenerationParams())


def test_an_answer_cut_short_by_the_server_is_an_error(server):
    """llama-cpp-python's server ends a stream with [DONE] and no finish_reason when another request arrives."""
    with pytest.raises(GenerationFailed, match="interrupt_requests False"):
        generate(OpenAICompatibleGenerator(server, "m"), "cut", GenerationParams())


def test_unreachable_server():
    with pytest.raises(ModelUnavailable, match="Cannot reach"):
        generate(OpenAICompatibleGenerator("http://127.0.0.1:9/v1", "m", timeout=2), "x", GenerationParams())


def test_summarizer_over_http(server):
    from assistant.summarize import Summarizer

    summary = Summarizer(OpenAICompatibleGenerator(server, "llama-2-7b-chat")).summarize("Customer: hi\nAgent: hello")
    assert summary.text == "Customer asked. Agent answered." and summary.backend == "openai"
    assert FakeCompletions.requests[0][2]["prompt"].startswith("<s>[INST] <<SYS>>")


def test_choice_probabilities_from_the_servers_top_logprobs(server):
    yes, no = OpenAICompatibleGenerator(server, "m").choice_probabilities("Is it? Answer yes or no.", ("yes", "no"))
    # "Yes" and " yes" are yes, "No" is no; " " begins both (" yes", " no") and "The" neither: both left out
    expected_yes = (math.exp(-0.3) + math.exp(-4.0)) / (math.exp(-0.3) + math.exp(-4.0) + math.exp(-1.5))
    assert yes == pytest.approx(expected_yes) and no == pytest.approx(1 - expected_yes)
    body = FakeCompletions.requests[0][2]
    assert body["max_tokens"] == 1 and body["logprobs"] == TOP_LOGPROBS and body["stream"] is False
    assert body["prompt"] == "Is it? Answer yes or no."


def test_a_server_without_logprobs_is_a_clear_error(server):
    FakeCompletions.top_logprobs = None
    with pytest.raises(GenerationFailed, match="no log-probabilities"):
        OpenAICompatibleGenerator(server, "m").choice_probabilities("Is it?", ("yes", "no"))
    with pytest.raises(GenerationFailed, match="HTTP 500(.|\n)*logits_all True"):  # the server refuses logprobs
        OpenAICompatibleGenerator(server, "m").choice_probabilities("fail", ("yes", "no"))


def test_a_marker_is_never_a_summary(server):
    """What llama-cpp-python's server wrote when a Qwen model got the Llama-2 format: a marker, not a summary."""
    FakeCompletions.pieces = [" [/INST]"]
    with pytest.raises(GenerationFailed, match="prompt-format marker"):
        Summarizer(OpenAICompatibleGenerator(server, "llama-2-7b-chat")).summarize("Customer: hi\nAgent: hello")


def test_an_unknown_served_model_without_a_template_names_the_fixes(server):
    for fmt in ("auto", "chat_template"):
        with pytest.raises(ConfigError, match="chat-template-from") as info:
            load_generator(AssistantConfig(backend="openai", openai_base_url=server, model="my-model", prompt_format=fmt))
        assert "prompt-format llama2" in str(info.value)
    llama2 = load_generator(AssistantConfig(backend="openai", openai_base_url=server, model="llama-2-7b-chat"))
    assert llama2.chat_template is None  # a Llama-2 model by name is prompted in the Llama-2 format


def test_the_served_models_template_from_a_tokenizer_folder(server, tmp_path):
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({
        "chat_template": [{"name": "default", "template": CHATML}, {"name": "tool_use", "template": "x"}],
        "bos_token": None, "eos_token": {"content": "<|im_end|>"}}))
    config = AssistantConfig(backend="openai", openai_base_url=server, model="served-qwen", chat_template_from=str(tmp_path))
    gen = load_generator(config)
    assert gen.chat_template == CHATML and gen.special_tokens == {"bos_token": "", "eos_token": "<|im_end|>"}
    summary = Summarizer(gen, config).summarize("Customer: hi\nAgent: hello")
    prompt = FakeCompletions.requests[0][2]["prompt"]
    assert prompt.startswith("<|im_start|>system\n") and prompt.endswith("<|im_start|>assistant\nThe customer")
    assert summary.prompt_format == "chat_template" and summary.text.startswith("The customer")


def test_the_embedded_models_template_when_the_server_serves_it_by_name(server, tmp_path, monkeypatch):
    (tmp_path / "chat_template.jinja").write_text(CHATML)
    monkeypatch.setattr("assistant.backends.served_template.embedded_gguf", lambda name: tmp_path)
    gen = load_generator(AssistantConfig(backend="openai", openai_base_url=server, model="qwen2.5-coder-0.5b-instruct",
                                         prompt_format="chat_template"))
    assert gen.chat_template == CHATML


def test_one_generator_per_endpoint(server):
    gens = load_generators(AssistantConfig(backend="openai", model="llama-2-7b-chat",
                                           openai_base_urls=(server, server + "/")))
    assert [g.base_url for g in gens] == [server, server]
    assert load_generator(AssistantConfig(backend="openai", model="llama-2-7b-chat",
                                          openai_base_urls=(server, "http://x/v1"))).base_url == server
