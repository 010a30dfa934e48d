"""Scores against hand-computed values and rouge-score's own numbers; intervals and paired tests."""

import numpy as np
import pytest

from eval.metrics import (
    ScoringError, bootstrap_ci, length_stats, paired_compare, prompt_leak, rouge, rouge_multi, rouge_protocols,
    split_sentences,
)


def test_rouge_hand_computed():
    s = rouge("the cat sat on the mat", "the cat was on the mat")
    # unigrams: 5 of 6 shared each way; bigrams: 3 of 5 (the cat, on the, the mat); LCS "the cat on the mat" = 5
    assert s["rouge1"] == pytest.approx(5 / 6)
    assert s["rouge2"] == pytest.approx(3 / 5)
    assert s["rougeL"] == pytest.approx(5 / 6)


def test_stemming_is_on_by_default_and_can_be_turned_off():
    assert rouge("cats running", "cat run")["rouge1"] == pytest.approx(1.0)
    assert rouge("cats running", "cat run", use_stemmer=False)["rouge1"] == 0.0


def test_lsum_scores_sentences_separately():
    pred, ref = "C d. A b.", "A b. C d."
    s = rouge(pred, ref)
    assert s["rougeL"] == pytest.approx(0.5)  # one sequence: the LCS is only "a b" (or "c d")
    assert s["rougeLsum"] == pytest.approx(1.0)  # per sentence, the union covers everything


def test_matches_rouge_score_itself():
    from rouge_score import rouge_scorer

    pred = "Customer is complaining that the watchlist is not updating. Agent asks to check the show page."
    ref = "Customer is complaining that the watchlist is not updated with new episodes. Agent informed that the team is working on it."
    ours = rouge(pred, ref)
    theirs = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True).score(
        ref.replace(". ", ".\n"), pred.replace(". ", ".\n"))
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value.fmeasure)


@pytest.mark.parametrize("pred", ["", "   ", "!!! ... ?", "😀"])
def test_empty_and_punctuation_only_score_zero(pred):
    assert set(rouge(pred, "the agent offered a refund").values()) == {0.0}
    assert set(rouge("the agent offered a refund", pred).values()) == {0.0}


def test_multi_reference_takes_the_best_per_metric():
    refs = ["the agent offered a refund", "customer wants a new card quickly", "nothing in common here"]
    pred = "customer wants a refund quickly"
    multi = rouge_multi(pred, refs)
    singles = [rouge(pred, r) for r in refs]
    for key in multi:
        assert multi[key] == max(s[key] for s in singles)
    assert multi["rouge1"] > singles[0]["rouge1"]
    both = rouge_protocols(pred, refs)
    assert both["first"] == singles[0] and both["multi"] == multi
    with pytest.raises(ScoringError):
        rouge_multi(pred, [])


def test_split_sentences():
    assert split_sentences("Customer asked. Agent replied! Done? yes 3.5 kg") == "Customer asked.\nAgent replied!\nDone? yes 3.5 kg"
    assert split_sentences("  one line\n\ntwo  ") == "one line\ntwo"


def test_bootstrap_is_deterministic_and_brackets_the_mean():
    values = np.random.default_rng(1).random(50)
    a, b = bootstrap_ci(values, seed=3), bootstrap_ci(values, seed=3)
    assert a == b and a.low < a.mean < a.high and a.n == 50
    assert bootstrap_ci(values, seed=4) != a
    c = bootstrap_ci([0.5] * 10)
    assert c.low == c.mean == c.high == 0.5
    with pytest.raises(ScoringError):
        bootstrap_ci([])


def test_paired_compare():
    exact = paired_compare([0.1, 0.2, 0.3], [0.2, 0.4, 0.5])
    assert exact.p_value == pytest.approx(2 / 8)  # all +, or all -, out of 8 sign patterns
    assert (exact.wins, exact.losses, exact.ties) == (3, 0, 0)
    same = paired_compare([0.3] * 20, [0.3] * 20)
    assert same.p_value == pytest.approx(1.0) and same.diff.mean == 0.0 and same.ties == 20
    rng = np.random.default_rng(0)
    a = rng.random(100)
    better = paired_compare(a, a + 0.1 + rng.normal(0, 0.05, 100), samples=2000)
    assert better.p_value < 0.001 and better.diff.low > 0.05
    noise = paired_compare(a, a + rng.normal(0, 0.05, 100), samples=2000)
    assert noise.p_value > 0.01 and noise.diff.low < 0 < noise.diff.high
    with pytest.raises(ScoringError):
        paired_compare([1.0], [1.0, 2.0])


def test_length_stats():
    stats = length_stats(["a b c", "", "a b c d e"])
    assert stats["mean"] == pytest.approx(8 / 3) and stats["max"] == 5 and stats["empty"] == 1


def test_prompt_leak_guard():
    dialog = "Customer: my order is late\nAgent: sorry, sending a new one"
    prompt = "<|im_start|>system\nYou summarize support conversations.<|im_end|>\n<conversation>\n" + dialog
    assert prompt_leak("Customer is asking about a late order. Agent sends a new one.", prompt, dialog) is None
    assert "prompt" in prompt_leak(prompt + "\nCustomer asked about an order.", prompt, dialog)
    assert "dialog" in prompt_leak("Summary of: " + dialog, prompt, dialog)
    assert "transcript" in prompt_leak("Customer: hi\nAgent: hello", "", "")
    assert prompt_leak("", prompt, dialog) is None
