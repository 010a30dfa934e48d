import pytest

from assistant.config import AssistantConfig, load_config
from assistant.errors import ConfigError, ModelUnavailable


def test_defaults_are_the_embedded_model_on_llamacpp():
    cfg = AssistantConfig()
    assert cfg.model == "qwen2.5-coder-0.5b-instruct" and cfg.backend == "llamacpp"


def test_every_problem_is_listed_at_once():
    with pytest.raises(ConfigError) as info:
        AssistantConfig(backend="openai", load_in_4bit=True, max_new_tokens=0)
    msg = str(info.value)
    assert "openai_base_url" in msg and "load_in_4bit" in msg and "max_new_tokens" in msg


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("backend: transformers\nmax_new_tokens: 80\nload_in_4bit: true\n")
    cfg = load_config(path, max_new_tokens="60", adapter=None)
    assert (cfg.backend, cfg.max_new_tokens, cfg.load_in_4bit) == ("transformers", 60, True)


def test_unknown_key_and_bad_value(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("modle: x\n")
    with pytest.raises(ConfigError, match="Unknown config keys: modle"):
        load_config(path)
    with pytest.raises(ConfigError, match="number"):
        load_config(None, max_new_tokens="lots")


def test_shipped_configs_load():
    from pathlib import Path

    paths = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
    assert paths, "no shipped configs found"
    for path in paths:
        load_config(path)


def test_serving_fields_are_checked_together(tmp_path):
    with pytest.raises(ConfigError) as info:
        AssistantConfig(openai_base_urls=("http://a/v1",), chat_template_from=str(tmp_path))
    assert "need backend 'openai'" in str(info.value)
    with pytest.raises(ConfigError) as info:
        AssistantConfig(backend="openai", openai_base_urls=("http://a/v1", "a:8000"), chat_template_file="t.jinja",
                        chat_template_from=str(tmp_path / "missing.gguf"))
    msg = str(info.value)
    assert "'a:8000' in openai_base_urls is not an http(s) URL" in msg and "not both" in msg
    assert "missing.gguf' is not a .gguf file or a tokenizer folder" in msg
    cfg = load_config(None, backend="openai", openai_base_urls="http://a/v1, http://b/v1")
    assert cfg.endpoints == ("http://a/v1", "http://b/v1")
    assert AssistantConfig(backend="openai", openai_base_url="http://a/v1").endpoints == ("http://a/v1",)


# --- audit_adapter: the judge's own adapter, never the summary adapter ---

def _judge_run(tmp_path):
    """A training run folder as a trained judge would ship: adapter/ (PEFT) and adapter.gguf (llama.cpp)."""
    run = tmp_path / "judge-run"
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_config.json").write_text("{}")
    (run / "adapter.gguf").write_bytes(b"GGUF")
    return run


def test_audit_adapter_auto_is_none_without_a_shipped_judge(monkeypatch):
    from assistant import models
    from assistant.audit_service import audit_config

    monkeypatch.delitem(models.SHIPPED_JUDGES, models.AUDIT_MODEL, raising=False)  # as shipped today: none
    cfg = AssistantConfig()
    assert cfg.audit_adapter == "auto" and cfg.audit_adapter_path() is None
    audit = audit_config(cfg)
    assert (audit.model, audit.adapter) == (models.AUDIT_MODEL, "none") and audit.adapter_path() is None


def test_audit_adapter_auto_is_the_registered_judge(tmp_path, monkeypatch):
    from assistant import models
    from assistant.audit_service import audit_config

    run = _judge_run(tmp_path)
    monkeypatch.setitem(models.SHIPPED_JUDGES, models.AUDIT_MODEL, run)
    cfg = AssistantConfig()
    assert cfg.audit_adapter_path() == str(run / "adapter.gguf")
    audit = audit_config(cfg)
    assert audit.model == models.AUDIT_MODEL and audit.adapter == str(run / "adapter.gguf")
    assert audit.adapter_path() == str(run / "adapter.gguf")  # what load_generator gives llama.cpp
    audit = audit_config(AssistantConfig(backend="transformers"))
    assert audit.adapter == audit.adapter_path() == str(run / "adapter")
    served = AssistantConfig(backend="openai", openai_base_url="http://a/v1")
    assert served.audit_adapter_path() is None and audit_config(served).adapter == "none"  # the server's business
    # a judge registered for another model is not the audit model's
    assert AssistantConfig(audit_model="qwen2.5-coder-0.5b-instruct").audit_adapter_path() is None


def test_audit_adapter_none_and_explicit_paths(tmp_path, monkeypatch):
    from assistant import models
    from assistant.audit_service import audit_config

    run = _judge_run(tmp_path)
    monkeypatch.setitem(models.SHIPPED_JUDGES, models.AUDIT_MODEL, run)
    for off in ("none", "off", "", None):
        cfg = AssistantConfig(audit_adapter=off)
        assert cfg.audit_adapter_path() is None and audit_config(cfg).adapter == "none"
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF")
    assert audit_config(AssistantConfig(audit_adapter=str(other))).adapter == str(other)
    with pytest.raises(ModelUnavailable, match="Adapter not found"):
        audit_config(AssistantConfig(audit_adapter=str(tmp_path / "nope.gguf")))


def test_a_missing_shipped_judge_says_to_run_without_it(tmp_path, monkeypatch):
    from assistant import models
    from assistant.audit_service import audit_config

    monkeypatch.setitem(models.SHIPPED_JUDGES, models.AUDIT_MODEL, tmp_path / "gone")
    with pytest.raises(ModelUnavailable, match=r"shipped judge adapter .*--audit-adapter none"):
        AssistantConfig().audit_adapter_path()
    with pytest.raises(ModelUnavailable, match="--audit-adapter none"):
        audit_config(AssistantConfig())
    assert audit_config(AssistantConfig(audit_adapter="none")).adapter == "none"


def test_the_summary_adapter_is_never_the_judges(tmp_path, monkeypatch):
    from assistant import models
    from assistant.audit_service import audit_config

    monkeypatch.delitem(models.SHIPPED_JUDGES, models.DEFAULT_MODEL, raising=False)
    # the audit model is the summary model, which has a shipped TweetSumm adapter: the judge still runs without it
    cfg = AssistantConfig(audit_model=models.DEFAULT_MODEL)
    assert cfg.adapter_path() == str(models.SHIPPED_ADAPTERS[models.DEFAULT_MODEL] / "adapter.gguf")
    audit = audit_config(cfg)
    assert audit.model == models.DEFAULT_MODEL and audit.adapter == "none" and audit.adapter_path() is None
    # an explicit summary adapter is not carried over either
    summary = tmp_path / "summary.gguf"
    summary.write_bytes(b"GGUF")
    assert audit_config(AssistantConfig(adapter=str(summary))).adapter == "none"
    # and a registered judge does not change the summary adapter
    run = _judge_run(tmp_path)
    monkeypatch.setitem(models.SHIPPED_JUDGES, models.DEFAULT_MODEL, run)
    assert cfg.adapter_path() == str(models.SHIPPED_ADAPTERS[models.DEFAULT_MODEL] / "adapter.gguf")
    assert audit_config(cfg).adapter == str(run / "adapter.gguf")


def test_audit_adapter_from_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("audit_model: my-judge.gguf\naudit_adapter: none\n")
    cfg = load_config(path)
    assert (cfg.audit_model, cfg.audit_adapter, cfg.adapter) == ("my-judge.gguf", None, "auto")  # none: no adapter
    assert cfg.audit_adapter_path() is None
    assert load_config(path, audit_adapter="runs/judge").audit_adapter == "runs/judge"
    assert load_config(None).audit_adapter == "auto"
