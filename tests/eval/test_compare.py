"""eval.compare with fake summarizers (cache, resume, guard) and one end-to-end --limit 2 run on a tiny model."""

import json

import pytest

from assistant.config import AssistantConfig
from assistant.errors import ConfigError
from assistant.summarize import Summarizer
from eval import compare, report
from eval.generate import System, generate, parse_system, read_cache
from eval.metrics import ScoringError
from tests.conftest import FakeGenerator


def factory_for(reply, calls=None, fail_after=None):
    def factory(config):
        gen = FakeGenerator(reply=reply)
        original = gen.stream

        def stream(prompt, params):
            if calls is not None:
                calls.append(prompt)
                if fail_after is not None and len(calls) > fail_after:
                    raise KeyboardInterrupt("killed")
            yield from original(prompt, params)

        gen.stream = stream
        return Summarizer(gen, config)
    return factory


@pytest.fixture(scope="module")
def dialogs(tweetsumm_dir):
    from training.tweetsumm import load_split

    return load_split("test", tweetsumm_dir, limit=4)


def test_parse_system():
    s = parse_system("base:adapter=none,max_new_tokens=60")
    assert s.name == "base" and not s.config.fine_tuned and s.config.max_new_tokens == 60
    assert parse_system("fine-tuned").config == AssistantConfig()
    with pytest.raises(ConfigError, match="System name"):
        parse_system("bad name:adapter=none")
    with pytest.raises(ConfigError, match="neither"):
        parse_system("x:adapter")
    with pytest.raises(ConfigError, match="Unknown config keys"):
        parse_system("x:colour=blue")


def test_cache_resumes_after_a_kill_and_never_mixes_configs(tmp_path, dialogs):
    system = System("base", AssistantConfig(adapter="none"))
    cache = tmp_path / "base.jsonl"
    calls = []
    with pytest.raises(KeyboardInterrupt):
        generate(system, dialogs, cache, factory=factory_for(" asked.", calls, fail_after=2))
    assert len(read_cache(cache, system.fingerprint())) == 2
    with open(cache, "a") as f:
        f.write('{"id": "torn')  # a line cut by the kill
    calls.clear()
    gens, timings = generate(system, dialogs, cache, factory=factory_for(" asked.", calls))
    assert len(calls) == 2 and timings["reused"] == 2 and [g.id for g in gens] == [d.conversation_id for d in dialogs]
    calls.clear()
    generate(system, dialogs, cache, factory=factory_for(" asked.", calls))
    assert calls == []  # all cached
    other = System("base", AssistantConfig(adapter="none", max_new_tokens=50))
    assert other.fingerprint() != system.fingerprint()
    generate(other, dialogs, cache, factory=factory_for(" asked.", calls))
    assert len(calls) == 4  # a changed system is regenerated, not mixed with the old outputs
    unchanged = System("base", AssistantConfig(adapter="none", support_check=False, audit_k=3, compile_model="x"))
    assert unchanged.fingerprint() == system.fingerprint()  # the audit's and the support check's settings write no summary


def test_run_writes_a_self_describing_folder(tmp_path, dialogs, tweetsumm_dir):
    systems = [System("base", AssistantConfig(adapter="none")), System("tuned", AssistantConfig())]

    def factory(config):
        reply = "Customer is complaining about the watchlist. Agent asks to check the show page."
        return factory_for(" wanted help." if config.adapter == "none" else reply)(config)

    results = compare.run(systems, tmp_path, data_dir=tweetsumm_dir, limit=4, bert=False, samples=200, factory=factory, quiet=True)
    assert {p.name for p in tmp_path.iterdir()} >= {"results.json", "examples.csv", "report.md", "plots", "generations"}
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["protocol"]["rouge"]["use_stemmer"] is True and saved["versions"]["rouge-score"] != "not installed"
    assert len(saved["rows"]) == 8 and saved["data"]["n_dialogs"] == 4
    assert set(saved["aggregates"]["means"]) == {"first", "multi"}
    first = saved["aggregates"]["means"]["first"]
    assert first["tuned"]["rouge1"]["mean"] > first["base"]["rouge1"]["mean"]
    multi = saved["aggregates"]["means"]["multi"]
    for system in ("base", "tuned"):  # the best of all references is never below the first one
        assert all(multi[system][m]["mean"] >= first[system][m]["mean"] for m in first[system])
    assert "tuned" in saved["aggregates"]["paired"]["first"]
    assert (tmp_path / "plots" / "rouge.png").stat().st_size > 10_000
    md = (tmp_path / "report.md").read_text()
    assert "seed: Llama-2-7b-chat QLoRA" in md and "0.4035" in md and "Side by side" in md
    assert report.main([str(tmp_path)]) == 0
    assert report.main([str(tmp_path), str(tmp_path)]) == 0
    assert "+0.0000" in report.render_diff(results, results)


def test_prompt_echo_is_refused(tmp_path, dialogs, tweetsumm_dir, monkeypatch):
    """A pipeline that returns the prompt with the output must fail, not report ROUGE 0.9: scoring refuses it even
    when the summarizer's own guard (assistant.guard, tested in tests/test_guard.py) is out of the way."""
    monkeypatch.setattr("assistant.summarize.check_summary", lambda text, prompt, model: None)

    def echo(config):
        summarizer = factory_for(" x")(config)
        gen = summarizer.generator
        gen.stream = lambda prompt, params: iter([prompt + " Customer asked."])
        return summarizer

    with pytest.raises(ScoringError, match="not the summary alone"):
        compare.run([System("echo", AssistantConfig(adapter="none"))], tmp_path, data_dir=tweetsumm_dir, limit=1,
                    bert=False, factory=echo, quiet=True)


def test_report_on_a_missing_run(tmp_path, capsys):
    assert report.main([str(tmp_path)]) == 2
    assert "eval.compare" in capsys.readouterr().err


def test_end_to_end_limit_2_on_a_tiny_model(tmp_path, tiny_llama, tweetsumm_dir, monkeypatch):
    monkeypatch.setenv("SUPPORTLENS_TWEETSUMM", str(tweetsumm_dir))
    spec = f"tiny:model={tiny_llama},backend=transformers,adapter=none,device=cpu,max_new_tokens=8"
    args = ["--system", spec, "--system", spec.replace("tiny:", "tiny2:") + ",temperature=0.7",
            "--limit", "2", "--no-bertscore", "--bootstrap", "100", "--out", str(tmp_path)]
    assert compare.main(args) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results["rows"]) == 4 and results["systems"]["tiny"]["config"]["backend"] == "transformers"
    assert results["timings"]["systems"]["tiny"]["generated"] == 2
    assert compare.main(args) == 0  # resumed: nothing left to generate
    again = json.loads((tmp_path / "results.json").read_text())
    assert again["timings"]["systems"]["tiny"]["generated"] == 0 and again["timings"]["systems"]["tiny"]["reused"] == 2


class DoubtsRefunds:
    """A support check (SupportChecker's interface) that scores a sentence 0.1 when it mentions a refund, else 0.9."""

    name = "doubts-refunds"
    fingerprint = "doubts-refunds|1"

    def __init__(self, threshold: float) -> None:
        self.threshold, self.checked = threshold, 0

    def check(self, conv, summary):  # noqa: ANN001, ANN201
        from assistant.support import SentenceSupport, SupportReport, split_sentences

        self.checked += 1
        scores = [(s, 0.1 if "refund" in s else 0.9) for s in split_sentences(summary)]
        return SupportReport(self.name, self.threshold, tuple(SentenceSupport(s, p, p < self.threshold) for s, p in scores))


def test_support_share_per_system_is_cached_and_reported(tmp_path, tweetsumm_dir):
    systems = [System("base", AssistantConfig(adapter="none")), System("tuned", AssistantConfig())]

    def factory(config):
        return factory_for(" wanted help." if config.adapter == "none" else " wanted help. The agent offered a refund.")(config)

    checker = DoubtsRefunds(threshold=0.5)
    results = compare.run(systems, tmp_path, data_dir=tweetsumm_dir, limit=4, bert=False, samples=200, factory=factory,
                          quiet=True, support=checker)
    support = results["aggregates"]["support"]
    assert support["checker"] == "doubts-refunds" and support["kept"]["base"]["mean"] == 1.0
    assert support["kept"]["tuned"]["mean"] == 0.5  # one of its two sentences is doubted in every summary
    assert support["paired"]["tuned"]["diff"]["mean"] == pytest.approx(-0.5)
    assert "Support check" in (tmp_path / "report.md").read_text()
    assert checker.checked == 8
    checks = len([line for line in (tmp_path / "support.jsonl").read_text().splitlines() if line])
    compare.run(systems, tmp_path, data_dir=tweetsumm_dir, limit=4, bert=False, samples=200, factory=factory,
                quiet=True, support=checker)
    assert checks == 8 and checker.checked == 8  # the rerun checked nothing
    strict = DoubtsRefunds(threshold=0.95)  # a new threshold re-decides the cached scores
    again = compare.run(systems, tmp_path, data_dir=tweetsumm_dir, limit=4, bert=False, samples=200, factory=factory,
                        quiet=True, support=strict)
    assert strict.checked == 0 and again["aggregates"]["support"]["kept"]["base"]["mean"] == 0.0

