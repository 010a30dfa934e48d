"""Generator backends behind one protocol (see ``base.Generator``)."""

from __future__ import annotations

import os
from pathlib import Path

from assistant.backends.base import GenerationParams, Generator, generate
from assistant.config import AssistantConfig
from assistant.models import ProgressFn, resolve_model

__all__ = ["GenerationParams", "Generator", "generate", "load_generator", "load_generators"]


def load_generator(config: AssistantConfig, progress: ProgressFn | None = None) -> Generator:
    """Build the generator ``config`` asks for (resolving, assembling and converting weights as needed)."""
    if config.backend == "openai":
        return load_generators(config)[0]
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


def load_generators(config: AssistantConfig, progress: ProgressFn | None = None) -> list[Generator]:
    """One generator per endpoint of backend 'openai' (``config.endpoints``), all with the served model's chat
    template; for a local backend, the one generator ``load_generator`` builds (more copies of a model in one
    process would only share the same cores)."""
    if config.backend != "openai":
        return [load_generator(config, progress)]
    from assistant.backends.openai_http import OpenAICompatibleGenerator
    from assistant.backends.served_template import served_template

    template = served_template(config)
    return [OpenAICompatibleGenerator(
        url, config.model, api_key=os.environ.get(config.openai_api_key_env),
        chat_template=template.template if template else None,
        special_tokens=template.special_tokens if template else None, context_length=config.n_ctx,
    ) for url in config.endpoints]
