"""Typed configuration of the assistant (model, backend, decoding), loaded from YAML with overrides."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from assistant.conversation import MAX_CHARS
from assistant.errors import ConfigError, ModelUnavailable
from assistant.models import (AUDIT_MODEL, DEFAULT_MODEL, NO_ADAPTER, SHIPPED_ADAPTERS, SHIPPED_JUDGE, SHIPPED_JUDGES,
                              resolve_adapter)

BACKENDS = ("llamacpp", "transformers", "openai")
PROMPT_FORMATS = ("auto", "llama2", "chat_template")
#: How an audit check's yes/no is scored: auto = next-token probabilities where the backend has them
SCORERS = ("auto", "probabilities", "yes_no")


@dataclass(frozen=True)
class AuditSettings:
    """How audits judge: each guideline's clauses become yes/no checks on the messages they are about
    (assistant.clauses), answered by the judge (``audit_judge``); see assistant.judge."""

    k: int = field(default=12, metadata={"help": "Rules with a trigger judged per audit, the likeliest to apply first (rules that always apply are always judged): a playbook of up to k such rules is judged whole."})
    yes_bias: float | None = field(default=None, metadata={"help": "Logit subtracted from every yes of a rule's checks (a judge that says yes too readily); default: the judge's own, chosen on the dev sets with eval.audit --calibrate: the trained judge's is in its judge.json, the language model's is MODEL_YES_BIAS (1.0 for the 1.5B: compiled prose plans 0.550 against 0.391 at 0.5)."})
    many_bias: float | None = field(default=None, metadata={"help": "Added to the yes-bias of each answer that is combined with others (every agent reply, any message): the least of many noisy P(yes) is low and the most is high by chance alone, so each is moved against that extreme (up for every-reply checks, down otherwise; assistant.judge.value_bias). Default: the judge's own, chosen on the dev sets with eval.audit --calibrate: the trained judge's in its judge.json, the language model's MODEL_MANY_BIAS."})
    trigger_bias: float | None = field(default=None, metadata={"help": "Logit added to P(not applicable) of a rule's trigger (the check that decides whether a triggered rule applies): a judge that sees a rule's situation in ordinary messages makes the rule fire in conversations it is not about. Default: the judge's own, chosen on the dev sets with eval.audit --calibrate: the trained judge's in its judge.json, the language model's MODEL_TRIGGER_BIAS."})
    scorer: str = field(default="auto", metadata={"help": "How a check is answered: probabilities (P(yes) from the next-token distribution), yes_no (a constrained yes/no answer: no confidence), or auto (probabilities where the backend has them)."})
    max_input_chars: int = field(default=MAX_CHARS, metadata={"help": "Longest conversation accepted, in characters."})

    def __post_init__(self) -> None:
        problems = audit_problems(self.k, self.yes_bias, self.scorer, many_bias=self.many_bias,
                                  trigger_bias=self.trigger_bias)
        if problems:
            raise ConfigError("Invalid audit settings:\n- " + "\n- ".join(problems))


#: The language-model judge's yes-bias (``audit_judge: model``), chosen for the 1.5B on the dev sets.
MODEL_YES_BIAS = 1.0
#: The language-model judge's many-bias (``AuditSettings.many_bias``): 0, the best mean over the three dev sets for the
#: 1.5B (0.604 against 0.592 at 1: it helps prose playbooks and hurts the clause edition; see README).
MODEL_MANY_BIAS = 0.0
#: The language-model judge's trigger bias (``AuditSettings.trigger_bias``): 0.5, the best mean over the three dev sets
#: for the 1.5B at yes-bias 1.0 (0.606 against 0.581 at 0: Skyway 0.546 -> 0.636, prose 0.550 -> 0.541, clauses
#: 0.649 -> 0.640; see README).
MODEL_TRIGGER_BIAS = 0.5
#: The support check's threshold (a sentence scoring below it is doubted), chosen on the dev half of eval/support_dev
#: by ``python -m eval.support``.
SUPPORT_THRESHOLD = 0.4771


def audit_problems(k: int, yes_bias: float | None, scorer: str, prefix: str = "", many_bias: float | None = None,
                   trigger_bias: float | None = None) -> list[str]:
    """What is wrong with these audit settings (named ``prefix`` + field, as the user typed them)."""
    problems = []
    if scorer not in SCORERS:
        problems.append(f"{prefix}scorer {scorer!r} is unknown: use one of {', '.join(SCORERS)}")
    if not isinstance(k, int) or k < 1:
        problems.append(f"{prefix}k must be a whole number of passages, at least 1 (got {k!r})")
    for name, value in (("yes_bias", yes_bias), ("many_bias", many_bias), ("trigger_bias", trigger_bias)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
            problems.append(f"{prefix}{name} must be a finite number (got {value!r})")
    return problems


_AUDIT = {f.name: f for f in fields(AuditSettings)}


@dataclass(frozen=True)
class AssistantConfig:
    """How SupportLens summarizes: which model, on which backend, with which decoding settings."""

    model: str = field(default=DEFAULT_MODEL, metadata={"help": "Embedded model name, local path (folder or .gguf) or hub id (e.g. meta-llama/Llama-2-7b-chat-hf)."})
    backend: str = field(default="llamacpp", metadata={"help": "llamacpp (fastest on CPU), transformers (adapters, 4-bit, GPU) or openai (a vLLM/TGI server)."})
    adapter: str | None = field(default="auto", metadata={"help": "auto (the shipped TweetSumm adapter of the embedded model), none (base model alone), a training run folder, a PEFT adapter folder (transformers) or a LoRA .gguf (llamacpp)."})
    load_in_4bit: bool = field(default=False, metadata={"help": "Load the model in 4-bit NF4 with double quantization (transformers + bitsandbytes)."})
    device: str = field(default="auto", metadata={"help": "transformers device: auto, cpu or cuda."})
    prompt_format: str = field(default="auto", metadata={"help": "auto (Llama-2 format for Llama-2 models, the model's chat template otherwise), llama2 or chat_template."})
    chat_template_file: str | None = field(default=None, metadata={"help": "Jinja chat template for the openai backend (the server does not expose one)."})
    chat_template_from: str | None = field(default=None, metadata={"help": "openai backend: the served model's .gguf file or tokenizer folder on this machine, to read its chat template from (not needed when the served model is an embedded one, named by --model)."})
    max_new_tokens: int = field(default=120, metadata={"help": "Most tokens a summary may have."})
    temperature: float = field(default=0.0, metadata={"help": "0 = greedy (deterministic)."})
    n_threads: int | None = field(default=None, metadata={"help": "CPU threads (default: all cores)."})
    n_ctx: int = field(default=4096, metadata={"help": "Context window in tokens (prompt + summary)."})
    openai_base_url: str | None = field(default=None, metadata={"help": "Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1."})
    openai_base_urls: tuple[str, ...] = field(default=(), metadata={"help": "Several base URLs serving the same model (comma-separated): batch jobs send rows to whichever is free; single requests use the first."})
    openai_api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "Environment variable holding the server's API key, if any."})
    audit_judge: str = field(default="model", metadata={"help": "What answers an audit's checks: model (audit_model, a language model, by its next-token P(yes); the default), trained (the shipped trained judge, a small cross-encoder, models/minilm-audit-judge: about 20x faster, less accurate: held-out macro-F1 0.71 / 0.65 / 0.53 against the language model's 0.82 / 0.74 / 0.77 on the prose, Skyway and clause playbooks; see README), or a judge folder trained with python -m training.encoder_judge."})
    audit_model: str = field(default=AUDIT_MODEL, metadata={"help": "Language model that judges audits when audit_judge is model (never with the summary adapter; see audit_adapter)."})
    compile_model: str = field(default=AUDIT_MODEL, metadata={"help": "Model that writes, with no adapter: compiles prose rules into check plans (once per rule, at ingestion; the judge validates each plan) and answers follow-up questions about a conversation."})
    audit_adapter: str | None = field(default="auto", metadata={"help": "With audit_judge model: auto (a judge adapter registered for audit_model in SHIPPED_JUDGES, if any; else none), none (the model alone), a training run folder, a PEFT adapter folder (transformers) or a LoRA .gguf (llamacpp)."})
    # the audit's own settings (AuditSettings), flattened with an audit_ prefix so that YAML keys and CLI flags
    # are generated like every other field's
    audit_k: int = field(default=_AUDIT["k"].default, metadata=_AUDIT["k"].metadata)
    audit_yes_bias: float | None = field(default=_AUDIT["yes_bias"].default, metadata=_AUDIT["yes_bias"].metadata)
    audit_many_bias: float | None = field(default=_AUDIT["many_bias"].default, metadata=_AUDIT["many_bias"].metadata)
    audit_trigger_bias: float | None = field(default=_AUDIT["trigger_bias"].default, metadata=_AUDIT["trigger_bias"].metadata)
    audit_scorer: str = field(default=_AUDIT["scorer"].default, metadata=_AUDIT["scorer"].metadata)
    support_check: bool = field(default=True, metadata={"help": "Check each summary sentence against the conversation: does what it gives the customer or the agent match that party's own messages? The chat marks doubted sentences; summarize --json lists them (--no-support-check: off). See README, The support check, for how well it tells supported from unsupported sentences."})
    support_threshold: float | None = field(default=None, metadata={"help": "A summary sentence whose support score is below this is doubted. Default: SUPPORT_THRESHOLD, chosen on the dev half of eval/support_dev by python -m eval.support."})
    clean: bool = field(default=True, metadata={"help": "Clean the conversation (URLs, @handles, signatures) before summarizing, as in training."})
    redact: bool = field(default=False, metadata={"help": "Also replace e-mails, phone and card numbers with tags."})
    max_input_chars: int = field(default=MAX_CHARS, metadata={"help": "Longest conversation accepted, in characters."})

    def __post_init__(self) -> None:
        problems = []
        if self.backend not in BACKENDS:
            problems.append(f"backend {self.backend!r} is unknown: use one of {', '.join(BACKENDS)}")
        if self.prompt_format not in PROMPT_FORMATS:
            problems.append(f"prompt_format {self.prompt_format!r} is unknown: use one of {', '.join(PROMPT_FORMATS)}")
        if self.load_in_4bit and self.backend != "transformers":
            problems.append("load_in_4bit needs backend 'transformers' (GGUF files are already quantized)")
        problems += self._serving_problems()
        if self.max_new_tokens < 1:
            problems.append("max_new_tokens must be at least 1")
        if self.temperature < 0:
            problems.append("temperature must be >= 0")
        if self.n_ctx < 256:
            problems.append("n_ctx must be at least 256 tokens")
        problems += audit_problems(self.audit_k, self.audit_yes_bias, self.audit_scorer, prefix="audit_",
                                   many_bias=self.audit_many_bias, trigger_bias=self.audit_trigger_bias)
        if self.support_threshold is not None and (isinstance(self.support_threshold, bool) or not (
                isinstance(self.support_threshold, (int, float)) and 0 <= self.support_threshold <= 1)):
            problems.append(f"support_threshold must be between 0 and 1 (got {self.support_threshold!r})")
        if problems:
            raise ConfigError("Invalid configuration:\n- " + "\n- ".join(problems))

    def _serving_problems(self) -> list[str]:
        problems = []
        if self.backend == "openai" and not self.endpoints:
            problems.append("backend 'openai' needs openai_base_url (e.g. http://127.0.0.1:8000/v1)")
        if self.backend != "openai" and (self.openai_base_urls or self.chat_template_from):
            problems.append("openai_base_urls and chat_template_from need backend 'openai' (other backends read "
                            "the model's own template and run in this process)")
        problems += [f"{url!r} in openai_base_urls is not an http(s) URL" for url in self.openai_base_urls
                     if not url.startswith(("http://", "https://"))]
        if self.chat_template_from and self.chat_template_file:
            problems.append("give chat_template_from or chat_template_file, not both")
        source = Path(self.chat_template_from).expanduser() if self.chat_template_from else None
        if source and not (source.is_dir() or (source.is_file() and source.suffix == ".gguf")):
            problems.append(f"chat_template_from {self.chat_template_from!r} is not a .gguf file or a tokenizer folder")
        return problems

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The servers of backend 'openai': ``openai_base_urls`` if given, else ``openai_base_url`` (or none)."""
        if self.openai_base_urls:
            return self.openai_base_urls
        return (self.openai_base_url,) if self.openai_base_url else ()

    @property
    def audit(self) -> AuditSettings:
        """The audit's settings (``audit_*`` fields and ``max_input_chars``)."""
        return AuditSettings(k=self.audit_k, yes_bias=self.audit_yes_bias, many_bias=self.audit_many_bias,
                             trigger_bias=self.audit_trigger_bias, scorer=self.audit_scorer,
                             max_input_chars=self.max_input_chars)

    def adapter_path(self) -> str | None:
        """The adapter the backend loads (``auto`` resolved to the shipped one), or None for the base model alone."""
        return resolve_adapter(self.adapter, self.model, self.backend)

    def audit_judge_path(self) -> Path | None:
        """The trained judge folder audits use (``audit_judge``: ``trained`` is the shipped one), or None when the
        language model ``audit_model`` answers the checks. Raises ModelUnavailable when the folder is missing."""
        if self.audit_judge == "model":
            return None
        trained = self.audit_judge == "trained"
        folder = SHIPPED_JUDGE if trained else Path(self.audit_judge).expanduser()
        if not folder.is_dir():
            restore = "restore it from git (the shipped one), " if trained else ""
            raise ModelUnavailable(
                f"The audit judge {folder} is missing: {restore}train one with python -m training.encoder_judge --out "
                "FOLDER, or let the language model judge with --audit-judge model.")
        return folder

    def audit_adapter_path(self) -> str | None:
        """The adapter the judge loads on ``audit_model`` (``auto`` resolved to the shipped judge, never to the
        summary adapter), or None for the audit model alone."""
        return resolve_adapter(self.audit_adapter, self.audit_model, self.backend, shipped=SHIPPED_JUDGES)

    @property
    def fine_tuned(self) -> bool:
        """Whether an adapter is applied (without resolving paths: cheap, never raises)."""
        if self.adapter is None or self.adapter.lower() in NO_ADAPTER or self.backend == "openai":
            return False
        return self.adapter != "auto" or self.model in SHIPPED_ADAPTERS


def coerce_field(kind: str, name: str, value: Any) -> Any:
    """Turn a command-line string into the type named by a dataclass field annotation ``kind``.

    Shared by the assistant and training configs. Lists become tuples; ``a,b`` strings too for tuple fields.
    """
    if not isinstance(value, str):
        return tuple(value) if isinstance(value, list) else value
    if kind.startswith("tuple"):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if value.lower() in ("none", "null") and "None" in kind:
        return None
    if "bool" in kind:
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    try:
        if kind.startswith("int"):
            return int(value)
        if kind.startswith("float"):
            return float(value)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {value!r}") from exc
    return value


def load_config(path: str | os.PathLike | None = None, **overrides: Any) -> AssistantConfig:
    """Config from a YAML file (or ``$SUPPORTLENS_CONFIG``), then ``overrides`` (None values are ignored)."""
    data: dict[str, Any] = {}
    path = path or os.environ.get("SUPPORTLENS_CONFIG")
    if path:
        import yaml

        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"Cannot read config {path}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"Config {path} must be a mapping of settings")
        data.update(loaded)
    data.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(AssistantConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"Unknown config keys: {', '.join(unknown)}. Known: {', '.join(sorted(known))}")
    kinds = {f.name: str(f.type) for f in fields(AssistantConfig)}
    return replace(AssistantConfig(), **{k: coerce_field(kinds[k], k, v) for k, v in data.items()})
