"""The chat template of a served model: a server's ``/v1/completions`` takes a rendered prompt, so we render it.

An OpenAI-compatible server (vLLM, llama.cpp's server) does not say which chat template its model was trained on,
and a prompt in the wrong format makes a small model write format markers (``[/INST]``) instead of a summary. The
template therefore comes from, in order:

1. ``chat_template_file``: a Jinja file;
2. ``chat_template_from``: the served model's own files on this machine, a ``.gguf`` or a tokenizer folder
   (``tokenizer_config.json`` or ``chat_template.jinja``, as transformers saves them);
3. the embedded model of the same name, when the server serves one of ours under its name.

Without any, only a Llama-2 model (by name, or ``prompt_format: llama2``) can be served; anything else is a
ConfigError naming the three fixes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from assistant.config import AssistantConfig
from assistant.errors import ConfigError, ModelUnavailable
from assistant.models import EMBEDDED, embedded_gguf
from assistant.prompts import default_format


@dataclass(frozen=True)
class ChatTemplate:
    """A model's Jinja chat template and the special-token texts it refers to."""

    template: str
    special_tokens: dict[str, str] = field(default_factory=lambda: {"bos_token": "", "eos_token": ""})
    source: str = ""  # where it was read, for messages


def served_template(config: AssistantConfig) -> ChatTemplate | None:
    """The chat template for ``config.model`` as served (see the module docstring for the order), or None when the
    served model is used in the Llama-2 format. Raises ConfigError when the prompt format needs a template and no
    source gives one."""
    if config.chat_template_file:
        path = Path(config.chat_template_file).expanduser()
        try:
            return ChatTemplate(path.read_text(encoding="utf-8"), source=str(path))
        except OSError as exc:
            raise ConfigError(f"Cannot read chat_template_file {path}: {exc.strerror or exc}") from exc
    if config.chat_template_from:
        return template_from(Path(config.chat_template_from).expanduser())
    if config.model in EMBEDDED:
        return template_from(embedded_gguf(config.model))
    llama2_named = default_format(config.model, True) == "llama2"
    if config.prompt_format == "llama2" or (config.prompt_format == "auto" and llama2_named):
        return None
    raise ConfigError(
        f"The served model {config.model!r} needs its chat template to be prompted in its own format, and the server "
        "does not expose it. Give one of: --chat-template-from PATH (its .gguf file or tokenizer folder), "
        "--chat-template-file FILE.jinja, or --model with the name of an embedded model it serves; or "
        "--prompt-format llama2 if the served model was trained on the Llama-2 format (SupportLens' own fine-tunes).")


def template_from(path: Path) -> ChatTemplate:
    """The chat template stored in a GGUF file's metadata or in a transformers tokenizer folder."""
    if path.is_file() and path.suffix == ".gguf":
        return _from_gguf(path)
    if path.is_dir():
        return _from_tokenizer_folder(path)
    raise ConfigError(f"chat_template_from must be a .gguf file or a tokenizer folder; {path} is neither.")


def _from_gguf(path: Path) -> ChatTemplate:
    """Read the vocabulary only (no weights: well under a second even for large models)."""
    from assistant.errors import require

    llama_cpp = require("llama_cpp", "python tools/install_llama_cpp.py  (see README, CPU portability)")
    from llama_cpp._utils import suppress_stdout_stderr

    try:
        # verbose=False leaves one line on stderr (a context-size warning that means nothing without weights)
        with suppress_stdout_stderr(disable=False):
            llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, n_ctx=256, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise ModelUnavailable(f"llama.cpp could not read the vocabulary of {path}: {exc}") from exc
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise ConfigError(f"{path} holds no chat template (GGUF key tokenizer.chat_template); use --chat-template-file.")
    from assistant.backends.llamacpp import special_tokens

    return ChatTemplate(template, special_tokens(llm), str(path))


def _from_tokenizer_folder(folder: Path) -> ChatTemplate:
    config_path, jinja = folder / "tokenizer_config.json", folder / "chat_template.jinja"
    try:
        tok = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        template = jinja.read_text(encoding="utf-8") if jinja.is_file() else tok.get("chat_template")
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"Cannot read the tokenizer files in {folder}: {exc}") from exc
    if isinstance(template, list):  # several named templates: the default one is the chat template
        template = next((t.get("template") for t in template if t.get("name") == "default"), None)
    if not isinstance(template, str) or not template:
        raise ConfigError(f"{folder} holds no chat template (tokenizer_config.json 'chat_template' or "
                          "chat_template.jinja); use --chat-template-file.")
    return ChatTemplate(template, {name: _token_text(tok.get(name)) for name in ("bos_token", "eos_token")}, str(folder))


def _token_text(token: object) -> str:
    """A tokenizer_config token entry: a string, or an AddedToken record with its text in ``content``."""
    if isinstance(token, dict):
        token = token.get("content")
    return token if isinstance(token, str) else ""
