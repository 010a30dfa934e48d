"""OpenAI-compatible HTTP backend: send rendered prompts to a vLLM / TGI / llama.cpp server.

This is how users scale serving out: run ``vllm serve meta-llama/Llama-2-7b-chat-hf`` (or TGI) on GPU
machines and point SupportLens at it. We use the plain ``/v1/completions`` endpoint with the prompt
rendered by our own prompt builder, so the server sees exactly what training and evaluation used; the served
model's chat template comes from local files (``served_template``). Audits weigh yes against no with the server's
top log-probabilities. Only the standard library is used (urllib + server-sent events).
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from typing import Iterator, Sequence

from assistant.backends.base import GenerationParams, answer_variants, distinct_first_tokens, shares
from assistant.errors import GenerationFailed, ModelUnavailable

#: Top tokens asked for when weighing choices: vLLM's default --max-logprobs is 20, and the choices' spellings
#: (yes, Yes, " yes"...) are among the few most likely tokens whenever the model is answering at all.
TOP_LOGPROBS = 20
LOGPROBS_NEEDED = ("Audits weigh yes against no with the server's log-probabilities: serve the model with them "
                   "enabled (vLLM: --max-logprobs 20 or more; llama-cpp-python's server: --logits_all True, its "
                   "default), or audit with a local backend.")


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
        """The served model's template from local files or the config (a server does not expose it); None means
        the Llama-2 format."""
        return self._template

    @property
    def special_tokens(self) -> dict[str, str]:
        """Special token texts read with the template."""
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
        finished = None
        with self._post(body, "text/event-stream") as resp:
            for raw in resp:
                line = raw.decode("utf-8").strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                choice = self._choice(_json(data))
                finished = choice.get("finish_reason") or finished
                if choice.get("text"):
                    yield choice["text"]
        if finished is None:  # a complete answer's last chunk says why it ended ("stop", "length")
            raise GenerationFailed(
                f"The model server at {self.base_url} ended the answer without saying why, so it was cut short. "
                "llama-cpp-python's server does this to a request when another one arrives: start it with "
                "--interrupt_requests False.")

    def choice_probabilities(self, prompt: str, choices: Sequence[str]) -> list[float]:
        """The probability that the answer to ``prompt`` starts with each of ``choices`` (normalised over them), from
        the server's top log-probabilities of the first generated token (``logprobs`` on ``/v1/completions``; vLLM
        and llama.cpp's server both give them). Only the token texts are known, so a token counts for a choice when
        it begins one of the choice's spellings (``answer_variants``) and no other choice's."""
        body = {"model": self.model_name, "prompt": prompt, "max_tokens": 1, "temperature": 0.0,
                "logprobs": TOP_LOGPROBS, "stream": False}
        try:
            with self._post(body, "application/json") as resp:
                choice = self._choice(_json(resp.read().decode("utf-8")))
        except GenerationFailed as exc:  # e.g. llama-cpp-python's HTTP 500 when started with logits_all False
            raise GenerationFailed(f"{exc}\n{LOGPROBS_NEEDED}") from exc
        top = ((choice.get("logprobs") or {}).get("top_logprobs") or [None])[0]
        if not isinstance(top, dict) or not top:
            raise GenerationFailed(f"The model server at {self.base_url} returned no log-probabilities. {LOGPROBS_NEEDED}")

        def first_tokens(word: str) -> set[str]:
            return {t for t in top if t.strip() and any(v.startswith(t) for v in answer_variants(word))}

        return shares([sum(math.exp(top[t]) for t in texts) for texts in distinct_first_tokens(choices, first_tokens)])

    def _post(self, body: dict, accept: str):  # noqa: ANN202 - an open http.client.HTTPResponse
        """POST ``body`` to the completions endpoint; errors become domain errors naming the server."""
        headers = {"Content-Type": "application/json", "Accept": accept}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        req = urllib.request.Request(f"{self.base_url}/completions", data=json.dumps(body).encode(), headers=headers)
        try:
            return urllib.request.urlopen(req, timeout=self._timeout)  # noqa: S310 - user-configured URL
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", errors="replace")[:300]
            raise GenerationFailed(f"The model server at {self.base_url} answered HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ModelUnavailable(f"Cannot reach the model server at {self.base_url}: {exc}. Is it running?") from exc

    def _choice(self, payload: dict) -> dict:
        """The first choice of a completions payload; a reported error is GenerationFailed."""
        if "error" in payload:
            raise GenerationFailed(f"The model server at {self.base_url} reported an error: {payload['error']}")
        choices = payload.get("choices") or [{}]
        return choices[0] if isinstance(choices[0], dict) else {}


def _json(data: str) -> dict:
    try:
        payload = json.loads(data)
    except json.JSONDecodeError as exc:
        raise GenerationFailed(f"The model server sent malformed data: {data[:200]!r}") from exc
    if not isinstance(payload, dict):
        raise GenerationFailed(f"The model server sent malformed data: {data[:200]!r}")
    return payload
