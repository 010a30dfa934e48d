"""The judge probe: AUC and accuracy on held-back rule types, base against trained, with fakes."""

import json

import pytest

from eval import judge_probe, metrics
from tests.conftest import FakeGenerator


@pytest.mark.parametrize("scores, labels, expected", [
    ([0.9, 0.8, 0.2, 0.1], [True, True, False, False], 1.0),
    ([0.1, 0.2, 0.8, 0.9], [True, True, False, False], 0.0),
    ([0.5, 0.5, 0.5, 0.5], [True, False, True, False], 0.5),
    ([0.9, 0.3, 0.6, 0.1], [True, True, False, False], 0.75),
])
def test_auc_golden_cases(scores, labels, expected):
    assert metrics.auc(scores, labels) == expected


def test_summary_has_intervals_around_its_values():
    rows = [{"p": p, "label": y} for p, y in [(0.9, "yes"), (0.7, "yes"), (0.4, "yes"), (0.2, "no"), (0.6, "no"), (0.1, "no")]]
    s = judge_probe.summarize(rows)
    assert s["n"] == 6 and s["accuracy"] == pytest.approx(4 / 6, abs=1e-3)
    assert s["auc_ci"][0] <= s["auc"] <= s["auc_ci"][1] and s["accuracy_ci"][0] <= s["accuracy"] <= s["accuracy_ci"][1]


class Oracle(FakeGenerator):
    """P(yes) 0.9 for a prompt whose message holds a marker of the answer yes, else 0.1 (or a coin)."""

    def __init__(self, knows: bool) -> None:
        super().__init__()
        self.knows = knows

    def choice_probabilities(self, prompt, choices):
        return [0.5, 0.5] if not self.knows else [0.9, 0.1] if "Question:" in prompt and hash(prompt) % 2 else [0.1, 0.9]


def test_main_scores_base_and_trained_side_by_side(tweetsumm_dir, tmp_path, monkeypatch):
    loaded = []
    monkeypatch.setattr("assistant.backends.load_generator",
                        lambda config, progress=None: loaded.append(config) or Oracle(config.adapter != "none"))
    out = tmp_path / "probe"
    assert judge_probe.main(["--adapter", "run/adapter.gguf", "--held-back", "8", "--trained", "8", "--out", str(out),
                             "--data-dir", str(tweetsumm_dir)]) == 0
    result = json.loads((out / "results.json").read_text())
    assert [c.adapter for c in loaded] == ["none", "run/adapter.gguf"]
    assert set(result["judges"]) == {"base", "trained"}
    assert result["judges"]["base"]["held back"]["all"]["auc"] == 0.5  # a coin separates nothing
    assert set(result["slices"]["held back"]) - {"all"} <= {"agent_thanks", "emoji", "escalation", "customer_delay"}
    assert "held back" in (out / "report.md").read_text()
