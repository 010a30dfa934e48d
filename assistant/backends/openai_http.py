"""OpenAI-compatible HTTP backend: send rendered prompts to a vLLM / TGI / llama.cpp server.

This is how users scale serving out: run ``vllm serve meta-llama/Llama-2-7b-chat-hf`` (or TGI) on GPU
machines and point SupportLens at it. We use the plain ``/v1/completions`` endpoint with the prompt
rendered by our own prompt builder, so the server sees exactly what training and evaluation used.
Only the standard library is used (urllib + server-sent events).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Iterator

from assistant.backends.base import GenerationParams
from assistant.errors import GenerationFailed, ModelUnavailable


class OpenAICompatibleGenerator:
    """Generator calling ``POST {base_url}/completions`` with ``stream: true``."""

    backend = "openai"

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, chat_template: str | None = None,
                 context_length: int = 4096, timeout: float = 120.0, special_tokens: dict[str, str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.model_name = model
        self.context_length = context_length
        self._api_key = api_key
        self._template = chat_template
        self._timeout = timeout
        self._special = special_tokens or {"bos_token": "", "eos_token": ""}

    @property
    def chat_template(self) -> str | None:
        """The template given in the config (a server does not expose it); None means Llama-2 format."""
        return self._template

    @property
    def special_tokens(self) -> dict[str, str]:
        """Special token texts given in the config."""
        return self._special

    def count_tokens(self, text: str) -> int:
        """A conservative estimate (3 characters a token): the server's tokenizer is not available here."""
        return len(text) // 3 + 1

    def stream(self, prompt: str, params: GenerationParams) -> Iterator[str]:
        """Stream text pieces from the server's completions endpoint."""
        body = {
            "model": self.model_name, "prompt": prompt, "max_tokens": params.max_new_tokens,
            "temperature": params.temperature, "top_p": params.top_p, "stream": True, "seed": params.seed,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        req = urllib.request.Request(f"{self.base_url}/completions", data=json.dumps(body).encode(), headers=headers)
        try:
            resp = urllib.request.urlopen(req, timeout=self._timeout)  # noqa: S310 - user-configured URL
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", errors="replace")[:300]
            raise GenerationFailed(f"The model server at {self.base_url} answered HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ModelUnavailable(f"Cannot reach the model server at {self.base_url}: {exc}. Is it running?") from exc
        with resp:
            for raw in resp:
                line = raw.decode("utf-8").strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    payload = json.loads(data)
                except json.JSONDecodeError as exc:
                    raise GenerationFailed(f"The model server sent malformed data: {data[:200]!r}") from exc
                if "error" in payload:
                    raise GenerationFailed(f"The model server reported an error: {payload['error']}")
                piece = payload.get("choices", [{}])[0].get("text", "")
                if piece:
                    yield piece
