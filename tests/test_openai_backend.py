"""The OpenAI-compatible backend against a local fake server (loopback only)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from assistant.backends.base import GenerationParams, generate
from assistant.backends.openai_http import OpenAICompatibleGenerator
from assistant.errors import GenerationFailed, ModelUnavailable


class FakeCompletions(BaseHTTPRequestHandler):
    requests: list = []

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
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in ["Customer ", "asked. ", "Agent ", "answered."]:
            self.wfile.write(f"data: {json.dumps({'choices': [{'text': piece}]})}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeCompletions)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    FakeCompletions.requests.clear()
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


def test_unreachable_server():
    with pytest.raises(ModelUnavailable, match="Cannot reach"):
        generate(OpenAICompatibleGenerator("http://127.0.0.1:9/v1", "m", timeout=2), "x", GenerationParams())


def test_summarizer_over_http(server):
    from assistant.summarize import Summarizer

    summary = Summarizer(OpenAICompatibleGenerator(server, "llama-2-7b-chat")).summarize("Customer: hi\nAgent: hello")
    assert summary.text == "Customer asked. Agent answered." and summary.backend == "openai"
    assert FakeCompletions.requests[0][2]["prompt"].startswith("<s>[INST] <<SYS>>")
