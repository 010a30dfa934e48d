"""llama.cpp backend (llama-cpp-python) on a GGUF file: the fastest way to run on our CPUs."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Iterator

from assistant.backends.base import GenerationParams
from assistant.errors import ModelUnavailable, require


class LlamaCppGenerator:
    """Generator running a GGUF model with llama.cpp, tokens streamed as they are decoded."""

    backend = "llamacpp"

    def __init__(self, gguf_path: str, *, model_name: str | None = None, n_ctx: int = 4096,
                 n_threads: int | None = None, n_gpu_layers: int = 0, lora_path: str | None = None) -> None:
        llama_cpp = require("llama_cpp", "pip install llama-cpp-python==0.3.36")
        if not os.path.isfile(gguf_path):
            raise ModelUnavailable(f"GGUF file not found: {gguf_path}")
        try:
            self._llm = llama_cpp.Llama(
                model_path=gguf_path, n_ctx=n_ctx, n_threads=n_threads or os.cpu_count(),
                n_gpu_layers=n_gpu_layers, lora_path=lora_path, verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelUnavailable(f"llama.cpp could not load {gguf_path}: {exc}") from exc
        self.model_name = model_name or os.path.basename(gguf_path)
        if lora_path:
            lora = os.path.basename(lora_path)
            if lora == "adapter.gguf":  # a training run folder's export: name it after the run
                lora = os.path.basename(os.path.dirname(os.path.abspath(lora_path)))
            self.model_name += "+" + lora.removesuffix(".gguf")
        self.context_length = n_ctx
        self._template = self._llm.metadata.get("tokenizer.chat_template")
        self._special = {
            "bos_token": _piece(self._llm, self._llm.token_bos()),
            "eos_token": _piece(self._llm, self._llm.token_eos()),
        }

    @property
    def chat_template(self) -> str | None:
        """The chat template stored in the GGUF metadata."""
        return self._template

    @property
    def special_tokens(self) -> dict[str, str]:
        """BOS/EOS token texts from the GGUF vocabulary."""
        return self._special

    def _tokenize(self, text: str) -> list[int]:
        # The rendered prompt already holds any BOS its template wants: never add a second one.
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` with special tokens parsed, no BOS added."""
        return len(self._tokenize(text))

    def stream(self, prompt: str, params: GenerationParams) -> Iterator[str]:
        """Stream completion pieces from llama.cpp."""
        tokens = self._tokenize(prompt)
        # No reset between calls: llama.cpp reuses the KV cache of the longest common prompt prefix.
        for chunk in self._llm.create_completion(
            tokens, max_tokens=params.max_new_tokens, temperature=params.temperature, top_p=params.top_p,
            stop=list(params.stop) or None, seed=params.seed, stream=True,
            grammar=_grammar(params.json_schema) if params.json_schema else None,
        ):
            piece = chunk["choices"][0]["text"]
            if piece:
                yield piece


@lru_cache(maxsize=16)
def _grammar(json_schema: str):  # noqa: ANN202 - llama_cpp.LlamaGrammar
    """A llama.cpp grammar that only admits JSON following ``json_schema`` (built once per schema)."""
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(json_schema, verbose=False)


def _piece(llm, token: int) -> str:  # noqa: ANN001 - llama_cpp.Llama
    if token is None or token < 0:
        return ""
    return llm.detokenize([token], special=True).decode("utf-8", errors="ignore")
