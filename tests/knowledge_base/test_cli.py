"""The build/list/search entry points, run through main(argv) on a temporary root with the fake embedder."""

from __future__ import annotations

import json

import pytest

from knowledge_base import build, embedder, search
from knowledge_base import list as list_cli  # the module, not the builtin
from tests.knowledge_base.conftest import FakeEmbedder


@pytest.fixture(autouse=True)
def fake_model(monkeypatch, tmp_path):
    """The fake embedder, and a compile model that writes no usable plan (prose rules keep the generic questions),
    judged by the language-model path (the fake) rather than the shipped trained judge."""
    from tests.conftest import FakeGenerator

    config = tmp_path / "config.yaml"
    config.write_text("audit_judge: model\n")
    monkeypatch.setenv("SUPPORTLENS_CONFIG", str(config))
    monkeypatch.setattr(embedder, "make_embedder", FakeEmbedder)
    monkeypatch.setattr("assistant.backends.load_generator", lambda *a, **k: FakeGenerator(reply="not json"))


@pytest.fixture
def root(tmp_path) -> str:
    return str(tmp_path / "kb")


def test_build_list_search_delete(root, playbook, rules_txt, capsys):
    assert build.main(["--org", "acme", "--root", root, str(playbook), str(rules_txt)]) == 0
    out = capsys.readouterr().out
    assert "acme: 2 added, 0 updated, 0 unchanged, 0 removed; 15 chunks (15 embedded)" in out
    assert "check plans: 13 compiled, 0 unchanged" in out  # R1, R2, SEC-4 (prose) and G1-G10

    assert list_cli.main(["--org", "acme", "--root", root]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["DOCUMENT", "KIND", "CHUNKS", "RULES"]
    assert lines[1].split() == ["acme-rules.txt", "text", "4", "R1", "R2", "SEC-4"]
    assert lines[2].split()[:4] == ["brightline-social-care-playbook.md", "markdown", "11", "G1"]

    assert search.main(["--org", "acme", "--root", root, "-k", "2", "full card numbers, card security codes (CVV), PINs"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1. ") and "[G3] Brightline Social Care Playbook > G3: Never ask" in out.splitlines()[0]

    assert search.main(["--org", "acme", "--root", root, "--json", "-k", "3", "refunds billing team"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3 and set(hits[0]) == {"score", "id", "source", "heading", "rule_id", "text"}
    assert hits[0]["rule_id"] == "R2"

    assert build.main(["--org", "acme", "--root", root, "--delete", "acme-rules.txt"]) == 0
    assert "1 removed; 11 chunks" in capsys.readouterr().out
    assert build.main(["--org", "acme", "--root", root, str(playbook)]) == 0
    assert "nothing changed, nothing written" in capsys.readouterr().out


def test_errors_print_a_message_and_exit_2(root, playbook, capsys):
    assert search.main(["--org", "acme", "--root", root, "anything"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: No knowledge base for 'acme'") and "python -m knowledge_base.build --org acme" in err
    assert build.main(["--org", "../etc", "--root", root, str(playbook)]) == 2
    assert "error: Invalid organisation name" in capsys.readouterr().err
    assert build.main(["--org", "acme", "--root", root, "notes.docx"]) == 2
    assert "error: notes.docx: no such file" in capsys.readouterr().err
    build.main(["--org", "acme", "--root", root, str(playbook)])
    assert build.main(["--org", "acme", "--root", root, "--delete", "nope.md"]) == 2
    assert "error: No document named 'nope.md'" in capsys.readouterr().err


def test_list_of_an_emptied_store(root, rules_txt, capsys):
    build.main(["--org", "acme", "--root", root, str(rules_txt)])
    build.main(["--org", "acme", "--root", root, "--delete", rules_txt.name])
    capsys.readouterr()
    assert list_cli.main(["--org", "acme", "--root", root]) == 0
    assert capsys.readouterr().out == "acme: no documents\n"


@pytest.mark.parametrize("argv", [
    ["--org", "acme"],                                   # neither files nor --delete
    ["--org", "acme", "--delete", "a.md", "b.md"],       # both
    ["--org", "acme", "--rebuild", "--delete", "a.md"],
    ["a.md"],                                            # no --org
])
def test_build_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as excinfo:
        build.main(argv)
    assert excinfo.value.code == 2 and "error:" in capsys.readouterr().err


def test_root_defaults_to_the_environment(monkeypatch, tmp_path, rules_txt, capsys):
    monkeypatch.setenv("SUPPORTLENS_KB", str(tmp_path / "env-root"))
    assert build.main(["--org", "globex", str(rules_txt)]) == 0
    assert (tmp_path / "env-root" / "globex" / "CURRENT").is_file()


def test_docstrings_show_the_commands():
    assert "python -m knowledge_base.build --org" in build.__doc__
    assert "python -m knowledge_base.list --org" in list_cli.__doc__
    assert "python -m knowledge_base.search --org" in search.__doc__
