"""Generator backends behind one protocol (see ``base.Generator``)."""

from __future__ import annotations

import os
from pathlib import Path

from assistant.backends.base import GenerationParams, Generator, generate
from assistant.config import AssistantConfig
from assistant.models import ProgressFn, resolve_model

__all__ = ["GenerationParams", "Generator", "generate", "load_generator"]


def load_generator(config: AssistantConfig, progress: ProgressFn | None = None) -> Generator:
    """Build the generator ``config`` asks for (resolving, assembling and converting weights as needed)."""
    if config.backend == "openai":
        from assistant.backends.openai_http import OpenAICompatibleGenerator

        template = Path(config.chat_template_file).read_text() if config.chat_template_file else None
        return OpenAICompatibleGenerator(
            config.openai_base_url or "", config.model, api_key=os.environ.get(config.openai_api_key_env),
            chat_template=template, context_length=config.n_ctx,
        )
    resolved = resolve_model(config.model, config.backend, progress)
    adapter = config.adapter_path()
    if config.backend == "llamacpp":
        from assistant.backends.llamacpp import LlamaCppGenerator
        from assistant.preflight import ensure_runs

        ensure_runs(resolved.name, Path(resolved.path))  # a child process proves it first (cached once it passed)
        return LlamaCppGenerator(resolved.path, model_name=resolved.name, n_ctx=config.n_ctx,
                                 n_threads=config.n_threads, lora_path=adapter)
    from assistant.backends.transformers_backend import TransformersGenerator

    return TransformersGenerator(resolved.path, model_name=resolved.name, adapter=adapter,
                                 load_in_4bit=config.load_in_4bit, device=config.device,
                                 n_threads=config.n_threads, context_length=config.n_ctx)
