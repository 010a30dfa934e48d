"""llama.cpp backend (llama-cpp-python) on a GGUF file: the fastest way to run on our CPUs."""

from __future__ import annotations

import os
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator, Sequence

from assistant.backends.base import GenerationParams, answer_variants, distinct_first_tokens, shares
from assistant.errors import GenerationFailed, ModelUnavailable, require


class LlamaCppGenerator:
    """Generator running a GGUF model with llama.cpp, tokens streamed as they are decoded."""

    backend = "llamacpp"

    def __init__(self, gguf_path: str, *, model_name: str | None = None, n_ctx: int = 4096,
                 n_threads: int | None = None, n_gpu_layers: int = 0, lora_path: str | None = None,
                 extra_buffers: bool | None = None) -> None:
        """``extra_buffers``: let llama.cpp repack weights into its extra CPU buffer types (faster matmuls).
        None decides by the machine: off only where the library has AMX kernels and the CPU has AMX tiles,
        the combination that crashes on the first decode (upstream llama.cpp issue 20824)."""
        llama_cpp = require("llama_cpp", "python tools/install_llama_cpp.py  (see README, CPU portability)")
        if not os.path.isfile(gguf_path):
            raise ModelUnavailable(f"GGUF file not found: {gguf_path}")
        self.extra_buffers = amx_safe() if extra_buffers is None else extra_buffers
        try:
            with _model_params(use_extra_bufts=self.extra_buffers):
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
        self._special = special_tokens(self._llm)

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


    def choice_probabilities(self, prompt: str, choices: Sequence[str]) -> list[float]:
        """The probability that the answer to ``prompt`` starts with each of ``choices`` (normalised over them),
        from one forward pass: only the part of the prompt not already in the KV cache is evaluated."""
        import numpy as np

        tokens = self._tokenize(prompt)
        if len(tokens) >= self.context_length:
            raise GenerationFailed(f"The prompt has {len(tokens)} tokens; this model's context holds "
                                   f"{self.context_length}. Shorten the conversation.")
        llm = self._llm
        cached = llm.input_ids[: llm.n_tokens]
        n = 0
        while n < min(len(cached), len(tokens) - 1) and cached[n] == tokens[n]:
            n += 1
        if not llm._ctx.kv_cache_seq_rm(-1, n, -1):  # the cache could not be cut there: start afresh
            n = 0
        llm.n_tokens = n
        llm.eval(tokens[n:])
        # llama-cpp-python keeps no logits unless logits_all; the context still holds the last token's row.
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)
        weights = np.exp(logits - logits.max())
        mass = [float(sum(weights[t] for t in ids)) for ids in distinct_first_tokens(choices, self._first_tokens)]
        return shares(mass)

    def _first_tokens(self, word: str) -> set[int]:
        return {t[0] for v in answer_variants(word) if (t := self._tokenize(v))}


def amx_safe() -> bool:
    """False where this llama.cpp library has AMX kernels and the CPU has AMX tiles: there the weights would be
    repacked into the AMX buffer type, whose first decode segfaults. The project's own build never has AMX
    kernels (tools/install_llama_cpp.py), so this only bites a llama-cpp-python built natively elsewhere."""
    import llama_cpp

    from assistant.preflight import cpu_info

    compiled = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    return not ("AMX_INT8 = 1" in compiled and cpu_info().has_amx)


@contextmanager
def _model_params(**overrides: object) -> Iterator[None]:
    """Set fields of the ``llama_model_params`` that ``llama_cpp.Llama`` builds while it is constructed.

    ``Llama()`` exposes no argument for fields such as ``use_extra_bufts``; it takes its params from
    ``llama_model_default_params()``, so that function is wrapped for the duration of the construction."""
    import llama_cpp.llama_cpp as lib

    default = lib.llama_model_default_params

    def params():  # noqa: ANN202 - llama_model_params
        p = default()
        for name, value in overrides.items():
            setattr(p, name, value)
        return p

    lib.llama_model_default_params = params
    try:
        yield
    finally:
        lib.llama_model_default_params = default


@lru_cache(maxsize=16)
def _grammar(json_schema: str):  # noqa: ANN202 - llama_cpp.LlamaGrammar
    """A llama.cpp grammar that only admits JSON following ``json_schema`` (built once per schema)."""
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(json_schema, verbose=False)


def special_tokens(llm) -> dict[str, str]:  # noqa: ANN001 - llama_cpp.Llama
    """BOS/EOS token texts from a loaded model's vocabulary, as chat templates refer to them."""
    return {"bos_token": _piece(llm, llm.token_bos()), "eos_token": _piece(llm, llm.token_eos())}


def _piece(llm, token: int) -> str:  # noqa: ANN001 - llama_cpp.Llama
    if token is None or token < 0:
        return ""
    return llm.detokenize([token], special=True).decode("utf-8", errors="ignore")
