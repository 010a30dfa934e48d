import json

import pytest

from supportlens import __main__ as cli
from tests.conftest import FakeGenerator, WordsEmbedder


@pytest.fixture(autouse=True)
def words_embedder(monkeypatch):
    """The support check runs by default: a word-hashing embedder stands in for MiniLM (a test may patch another)."""
    monkeypatch.setattr("knowledge_base.embedder.make_embedder", WordsEmbedder)


@pytest.fixture
def fake_backend(monkeypatch):
    gen = FakeGenerator()
    monkeypatch.setattr("assistant.backends.load_generator", lambda config, progress=None: gen)
    return gen


def test_summarize_file_prints_summary(tmp_path, capsys, fake_backend):
    path = tmp_path / "c.txt"
    path.write_text("Customer: where is my order?\nAgent: it ships today")
    assert cli.main(["summarize", str(path), "--adapter", "none"]) == 0
    assert capsys.readouterr().out.strip() == "The customer" + fake_backend.reply


def test_stdin_and_json(monkeypatch, capsys, fake_backend):
    import io

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"user: hi\nagent: hello")))
    assert cli.main(["summarize", "-", "--json", "--max-new-tokens", "50"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"text", "model", "backend", "total_s", "first_token_s", "prompt_tokens"}
    assert data["backend"] == "fake"


@pytest.mark.parametrize("content, fragment", [
    (b"", "empty"),
    (b"Customer: only me\nCustomer: still me", "one-sided"),
    (bytes(range(256)) * 4, "binary"),
    (b"random notes, no speakers", "Accepted formats"),
    (b"Customer: " + b"x" * 500_000 + b"\nAgent: ok", "too long"),
])
def test_bad_input_exits_2_with_message(tmp_path, capsys, fake_backend, content, fragment):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    assert cli.main(["summarize", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and fragment in err and "Traceback" not in err
    assert fake_backend.prompts == []


def test_missing_file(capsys):
    assert cli.main(["summarize", "/nonexistent/file.txt"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_bad_config_is_reported(capsys, fake_backend):
    assert cli.main(["summarize", "-", "--backend", "nope"]) == 2
    assert "backend 'nope' is unknown" in capsys.readouterr().err


def test_named_transcript_roles_are_shown_and_agent_flag_decides(tmp_path, capsys, fake_backend):
    path = tmp_path / "chat.txt"
    path.write_text("[10:32 AM] John Smith: my router drops every hour\n"
                    "[10:33 AM] Sarah: sorry! which model is it?\n"
                    "[10:35 AM] John Smith: the XR-500\n")
    assert cli.main(["summarize", str(path), "--adapter", "none"]) == 0
    err = capsys.readouterr().err
    assert "roles: John Smith: customer (opens the conversation); Sarah: agent" in err
    assert cli.main(["summarize", str(path), "--adapter", "none", "--agent", "john smith"]) == 0
    assert "John Smith: agent" in capsys.readouterr().err
    summary_prompts = list(fake_backend.prompts)
    assert "Agent: my router drops every hour" in summary_prompts[-1]


def test_a_conversation_longer_than_the_context_prints_part_progress(tmp_path, capsys, monkeypatch):
    gen = FakeGenerator(context_length=400)  # tokens are words: a few hundred words do not fit one prompt
    monkeypatch.setattr("assistant.backends.load_generator", lambda config, progress=None: gen)
    path = tmp_path / "long.txt"
    path.write_text("\n".join(f"{'Customer' if i % 2 == 0 else 'Agent'}: message {i} " + "word " * 40
                              for i in range(30)))
    assert cli.main(["summarize", str(path), "--adapter", "none", "--max-new-tokens", "40"]) == 0
    err = capsys.readouterr().err
    assert "summarizing part 1/" in err and "parts: the conversation is longer" in err


def test_summarize_json_lists_each_sentence_with_its_support(tmp_path, capsys, monkeypatch):
    from tests.conftest import WordsEmbedder

    monkeypatch.setattr("assistant.backends.load_generator",
                        lambda config, progress=None: FakeGenerator(reply=" asked where the order is. The agent asked where the order is."))
    monkeypatch.setattr("knowledge_base.embedder.make_embedder", WordsEmbedder)
    path = tmp_path / "c.txt"
    path.write_text("Customer: where is my order?\nAgent: it ships today")
    assert cli.main(["summarize", str(path), "--json", "--adapter", "none", "--support-check", "--support-threshold", "0.5"]) == 0
    out = capsys.readouterr()
    support = json.loads(out.out)["support"]
    assert support["model"] == "attribution-2 (words)" and support["threshold"] == 0.5
    assert [(s["sentence"], s["doubted"]) for s in support["sentences"]] == [
        ("The customer asked where the order is.", False), ("The agent asked where the order is.", True)]
    assert "The agent asked where the order is." in out.err.split("not clearly supported")[1]


def test_summarize_without_the_support_check_loads_no_embedder(tmp_path, capsys, monkeypatch):
    def never():
        raise AssertionError("the support check's embedder was made")

    monkeypatch.setattr("assistant.backends.load_generator", lambda config, progress=None: FakeGenerator())
    monkeypatch.setattr("knowledge_base.embedder.make_embedder", never)
    path = tmp_path / "c.txt"
    path.write_text("Customer: where is my order?\nAgent: it ships today")
    assert cli.main(["summarize", str(path), "--json", "--no-support-check"]) == 0
    assert "support" not in json.loads(capsys.readouterr().out)


def test_a_support_check_that_cannot_run_keeps_the_summary(tmp_path, capsys, monkeypatch):
    from assistant.errors import ModelUnavailable

    class Missing:
        name = "missing"

        def embed(self, texts):  # noqa: ANN001, ANN201
            raise ModelUnavailable("the embedding model is missing")

    monkeypatch.setattr("assistant.backends.load_generator", lambda config, progress=None: FakeGenerator())
    monkeypatch.setattr("knowledge_base.embedder.make_embedder", Missing)
    path = tmp_path / "c.txt"
    path.write_text("Customer: where is my order?\nAgent: it ships today")
    assert cli.main(["summarize", str(path), "--json", "--support-check"]) == 0
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert data["text"] and data["support"]["skipped"] == "the embedding model is missing"
    assert "support check skipped" in out.err
