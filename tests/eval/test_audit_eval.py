"""eval.audit: verdict scores against hand-computed values; the labelled dev set is well formed."""

import json

import pytest

from assistant.audit import AuditReport, Finding
from eval.audit import DEV_LABELS, evaluate_reports, load_labels, score


def test_score_hand_computed():
    gold = ["followed", "followed", "violated", "not_applicable"]
    pred = ["followed", "violated", "violated", "followed"]
    s = score(gold, pred)
    f, v, na = (s["per_verdict"][k] for k in ("followed", "violated", "not_applicable"))
    assert (f["precision"], f["recall"]) == (0.5, 0.5) and f["f1"] == 0.5
    assert (v["precision"], v["recall"]) == (0.5, 1.0) and v["f1"] == pytest.approx(2 / 3)
    assert na["f1"] == 0.0 and na["support"] == 1 and na["predicted"] == 0
    assert s["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0) / 3) and s["accuracy"] == 0.5
    assert s["confusion"]["followed"]["violated"] == 1


def test_dev_set_is_complete_and_its_quotes_are_verbatim(tweetsumm_dir):
    rows = [json.loads(line) for line in DEV_LABELS.read_text().splitlines()]
    items = load_labels(DEV_LABELS, tweetsumm_dir)
    assert len(items) == len(rows) >= 20
    for (conv, labels), row in zip(items, rows):
        assert sorted(labels, key=lambda r: int(r[1:])) == [f"G{i}" for i in range(1, 11)]
        for quote in row["evidence"].values():
            assert not quote or any(quote in t.text for t in conv.turns), quote


def test_unretrieved_rules_count_as_not_applicable_and_undetermined_as_wrong(tweetsumm_dir):
    conv, _ = load_labels(DEV_LABELS, tweetsumm_dir)[0]
    labels = {"G1": "violated", "G2": "not_applicable", "G3": "followed"}
    finding = Finding("G1", "G1", "undetermined", "", "none", "", "pb.md", ("c1",), "", 2)
    quoted = Finding("G3", "G3", "followed", conv.turns[1].text, "verbatim", "", "pb.md", ("c3",), "", 1)
    report = AuditReport([finding, quoted], [], ["G2"], "fake", 1.0)
    m = evaluate_reports([(conv, labels)], [report])
    assert m["verdicts"]["accuracy"] == pytest.approx(2 / 3) and m["undetermined"] == 1
    assert m["retrieval_recall"] == 1.0 and m["evidence"]["verbatim_rate"] == 1.0
