import pytest

from assistant.config import AssistantConfig, load_config
from assistant.errors import ConfigError


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
