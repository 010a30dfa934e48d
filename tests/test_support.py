"""The summary support check: sentence splitting, claims and their attribution, doubting below the threshold, and its
validation."""

import pytest

from assistant.conversation import from_turns
from assistant.config import SUPPORT_THRESHOLD
from assistant.support import SupportChecker, attribution_scores, claims, split_sentences
from eval.support import choose_threshold, detection, evaluate
from tests.conftest import WordsEmbedder

CONV = from_turns([{"speaker": "customer", "text": "My watchlist stopped updating two days ago."},
                   {"speaker": "agent", "text": "Sorry! Our team is investigating; new episodes show on the show page meanwhile. ^AB"}])


@pytest.mark.parametrize("text, expected", [
    ("The customer asked. The agent replied.", ["The customer asked.", "The agent replied."]),
    ("It costs 2.5 dollars, e.g. for Mr. Smith. Done!", ["It costs 2.5 dollars, e.g. for Mr. Smith.", "Done!"]),
    ('Agent asked "why?" Then left.', ['Agent asked "why?"', "Then left."]),
    ("no end mark", ["no end mark"]),
    ("The customer said no. The agent apologised.", ["The customer said no.", "The agent apologised."]),
    ("Bags, shoes etc. Agent replied.", ["Bags, shoes etc.", "Agent replied."]),
    ("Order no. 123 was late. Refund no. It was lost.", ["Order no. 123 was late.", "Refund no.", "It was lost."]),
    ("Customer: help\n- Agent: ok", ["Customer: help", "- Agent: ok"]),
    ("  ", []),
])
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


@pytest.mark.parametrize("sentence, expected", [
    ("The customer said the watchlist stopped updating, but the agent said the team is investigating.",
     [("customer", " said the watchlist stopped updating"), ("agent", " said the team is investigating.")]),
    ("Customer is complaining that new episodes are missing.", [("customer", " is complaining that new episodes are missing.")]),
    ("The agent apologised.", []),  # one content word: nothing to check
    ("They fixed the watchlist quickly.", []),  # no party named
    ("They said the customer service desk can help with refunds.", [("agent", " can help with refunds.")]),
    ("The customer asked for a ticket refund, then the representative sent the returns form.",
     [("customer", " asked for a ticket refund"), ("agent", " sent the returns form.")]),
])
def test_claims_name_a_party_and_what_it_said(sentence, expected):
    assert claims(sentence) == expected


def test_a_claim_given_to_the_wrong_party_scores_low():
    right = "The customer said the watchlist stopped updating two days ago."
    wrong = "The agent said the watchlist stopped updating two days ago."
    scores = attribution_scores(CONV, [right, wrong, "Fine."], WordsEmbedder())
    assert scores[0] > 0.5 > scores[1] and scores[2] is None  # "Fine." names no party: not checked
    invented = attribution_scores(CONV, ["The agent refunded the full ticket price by cheque."], WordsEmbedder())[0]
    assert invented < scores[0]  # matches nobody's words: no better than a right claim


def test_a_bot_speaks_for_the_company():
    conv = from_turns([{"speaker": "customer", "text": "My watchlist stopped updating."},
                       {"speaker": "bot", "text": "Try clearing the app cache in settings."}])
    right, wrong = attribution_scores(conv, ["The agent suggested clearing the app cache in settings.",
                                             "The customer suggested clearing the app cache in settings."], WordsEmbedder())
    assert right > 0.5 > wrong


def test_sentences_below_the_threshold_are_doubted_and_the_conversation_is_embedded_once():
    embedder = WordsEmbedder()
    summary = "The customer said the watchlist stopped updating. The agent said the watchlist stopped updating two days ago."
    found = SupportChecker(embedder, threshold=0.5).check(CONV, summary).sentences
    assert [s.doubted for s in found] == [False, True] and embedder.calls == 1
    report = SupportChecker(embedder, threshold=0.99).check(CONV, "All good. The customer said the watchlist stopped updating.")
    assert [s.support is None for s in report.sentences] == [True, False] and len(report.checked) == 1
    assert [s.sentence for s in report.doubted] == ["The customer said the watchlist stopped updating."]  # never "All good."
    assert SupportChecker(embedder).threshold == SUPPORT_THRESHOLD
    assert SupportChecker(embedder, 0.25).threshold == 0.25


def test_the_fingerprint_follows_the_embedder_not_the_threshold():
    embedder = WordsEmbedder()
    assert SupportChecker(embedder, 0.5).fingerprint == SupportChecker(embedder, 0.9).fingerprint
    assert SupportChecker(embedder, 0.5).fingerprint != SupportChecker(WordsEmbedder(dim=128), 0.5).fingerprint


def test_an_empty_or_unclean_conversation_is_checked_without_error():
    bare = from_turns([{"speaker": "customer", "text": "https://t.co/abc"}])
    assert attribution_scores(bare, ["The agent sent a link to the page."], WordsEmbedder()) == [None]
    one_party = from_turns([{"speaker": "customer", "text": "Where is my parcel?"}, {"speaker": "agent", "text": "https://t.co/x"}])
    assert attribution_scores(one_party, ["The agent sent the tracking link."], WordsEmbedder()) == [None]  # nobody to compare


@pytest.mark.real_model
def test_the_real_embedder_tells_the_parties_apart():
    from knowledge_base.embedder import make_embedder

    right, wrong = attribution_scores(CONV, ["The customer says the watchlist stopped updating two days ago.",
                                             "The agent says the watchlist stopped updating two days ago."], make_embedder())
    assert right > SUPPORT_THRESHOLD > wrong


def test_threshold_separates_the_dev_sentences():
    scores = [0.9, 0.8, 0.7, 0.3, 0.2]
    supported = [True, True, True, False, False]
    t = choose_threshold(scores, supported)
    assert 0.3 < t <= 0.7
    d = detection(scores, supported, t)
    assert d["precision"] == 1.0 and d["recall"] == 1.0


def test_evaluate_chooses_on_dev_and_reports_test_apart_from_planted():
    def row(half, label, score, kind="natural", system="base"):
        return {"half": half, "label": label, "score": score, "kind": kind, "system": system, "id": f"{half}{score}"}

    rows = [row("dev", "supported", 0.8), row("dev", "unsupported", 0.2), row("dev", "supported", 0.6),
            row("test", "supported", 0.7), row("test", "unsupported", 0.65), row("test", "unsupported", 0.1),
            row("test", "unsupported", 0.05, kind="planted-negation")]
    report = evaluate(rows)
    assert 0.2 < report["threshold"] <= 0.6
    assert report["test"]["n"] == 3 and report["test"]["recall"] == 0.5  # 0.65 slips through
    assert report["test_planted"]["doubted_share"] == 1.0
    assert report["supported_share"]["base"]["n"] == 3  # the test half only


def test_auc_is_oriented_higher_means_supported():
    def row(half, label, score):
        return {"half": half, "label": label, "score": score, "kind": "natural", "system": "base", "id": half + label}

    rows = [row("dev", "supported", 0.9), row("dev", "unsupported", 0.1),
            row("test", "supported", 0.8), row("test", "unsupported", 0.2)]
    assert evaluate(rows)["test"]["auc"] == 1.0
