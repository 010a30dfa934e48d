"""The audit judge's training data: labels by construction hold, splits never leak."""

import random

import pytest

from assistant.conversation import Conversation, Turn
from assistant.detectors import has_signature
from training import judge_data as J


def conv(*texts, cid="c1"):
    speakers = ["customer", "agent"] * len(texts)
    return Conversation(tuple(Turn(s, t) for s, t in zip(speakers, texts)), cid)


@pytest.mark.parametrize("text, edit, expected", [
    ("@123 We're sorry to hear that. Please restart the app. ^JK", J._stripper(J.APOLOGY), "@123 Please restart the app. ^JK"),
    ("@123 Sorry! So sorry.", J._stripper(J.APOLOGY), None),  # nothing left: no edit
    ("@123 Please restart the app. ^JK", J._unsign, "@123 Please restart the app."),
    ("@123 Hi Anna, please restart the app.", J._strip_greeting, "@123 Please restart the app."),
    ("@123 See https://t.co/abc for the steps.", J._strip_pattern(J.URL), "@123 See for the steps."),
])
def test_golden_edits(text, edit, expected):
    assert edit(text, random.Random(0)) == expected


def test_inserted_sentences_go_after_the_handles_and_before_a_signature():
    rng = random.Random(0)
    assert J.insert_sentence("Sorry!", "@12 @34 Please restart.", rng, "start") == "@12 @34 Sorry! Please restart."
    assert J.insert_sentence("Bye.", "@12 Please restart. ^JK", rng, "end") == "@12 Bye. Please restart. ^JK"


@pytest.mark.parametrize("name, text, want, expected", [
    ("signature", "@1 Please restart the app. ^JK", True, ("@1 Please restart the app. ^JK", "original")),
    ("credentials", "@1 Please send us your password.", False, None),  # a real request: never used
    ("courtesy", "@1 Please restart the app.", True, ("@1 Please restart the app.", "original")),
    ("asks_info", "@1 Can you restart?", False, None),  # a question: it might ask for details
])
def test_variants_of_real_messages(name, text, want, expected):
    assert J.message_variant(J._BY_NAME[name], text, want, random.Random(0)) == expected


def test_every_message_label_holds_on_the_message_shown(tweetsumm_dir):
    from training.tweetsumm import load_split

    convs = load_split("train", tweetsumm_dir, 120)
    rules = [r for r in J.RULE_TYPES if r.present is not None and r.speaker != "conversation"]
    examples = J.build_examples(convs, rules, 400, seed=3) + J.build_examples(convs, rules, 200, seed=4, wording="reversed")
    assert len(examples) >= 570
    for e in examples:
        rule = J._BY_NAME[e.rule_type]
        polarity = dict(rule.questions)[e.question]
        prop = (e.label == "yes") == polarity
        if rule.name == "timeframe":  # both sides are inserted: the timeframe is in the inserted promise or not
            assert bool(J.TIMEFRAME.search(e.message)) == prop, e
        elif rule.name == "redirect_route":
            assert (J.has_phone(e.message) or J.has_link(e.message) or J.has_email(e.message)) == prop, e
        elif rule.name == "asks_info":
            assert ("?" in e.message) == prop, e
        elif rule.name == "courtesy":
            assert (not J.RUDE.search(e.message)) == prop, e
        else:
            assert bool(rule.present(e.message)) == prop, e
        assert e.second.startswith(f"{rule.speaker} message: {e.message}") and e.first.endswith(f"Question: {e.question}")


def test_labels_are_balanced_and_every_trained_type_appears(tweetsumm_dir):
    from training.tweetsumm import load_split

    splits = J.build_splits(load_split("train", tweetsumm_dir, 200), 300, 60, 40, seed=1, n_reversed=40)
    train = splits["train"]
    yes = sum(e.label == "yes" for e in train)
    assert abs(yes - len(train) / 2) <= len(train) * 0.05
    assert {e.rule_type for e in train} == {r.name for r in J.RULE_TYPES if r.name not in J.HELD_BACK}
    assert {e.rule_type for e in splits["held_back"]} <= set(J.HELD_BACK)
    assert len({r.name for r in J.RULE_TYPES}) - len(J.HELD_BACK) >= 20
    assert all(dict(J._BY_NAME[e.rule_type].questions)[e.question] for e in train + splits["valid"])  # property questions
    assert not any(dict(J._BY_NAME[e.rule_type].questions)[e.question] for e in splits["reversed"])


def test_splits_never_use_labelled_or_validation_dialogs(tweetsumm_dir):
    from training.tweetsumm import load_split

    convs = load_split("train", tweetsumm_dir)
    labelled = J.labelled_ids()
    assert labelled & {c.conversation_id for c in convs}, "the labelled sets hold train dialogs: the check can fail"
    train, valid = J.split_dialogs(convs)
    assert not labelled & {c.conversation_id for c in train + valid}
    assert not {c.conversation_id for c in train} & {c.conversation_id for c in valid}
    splits = J.build_splits(convs, 200, 40, 40, seed=0, n_reversed=40)
    train_ids = {e.conversation_id for e in splits["train"]}
    assert not train_ids & {e.conversation_id for e in splits["valid"] + splits["held_back"] + splits["reversed"]}


def test_same_seed_same_data(tweetsumm_dir):
    from training.tweetsumm import load_split

    convs = load_split("train", tweetsumm_dir, 100)
    rules = J.RULE_TYPES[:6]
    first = [(e.first, e.second) for e in J.build_examples(convs, rules, 50, seed=5)]
    assert first == [(e.first, e.second) for e in J.build_examples(convs, rules, 50, seed=5)]
    assert first != [(e.first, e.second) for e in J.build_examples(convs, rules, 50, seed=6)]


def test_conversation_level_labels():
    rule = J._BY_NAME["conversation_dm"]
    assert J.conversation_label(rule, conv("My card broke", "@1 Please DM us.", "ok"))
    assert not J.conversation_label(rule, conv("My card broke, DM me", "@1 Please restart.", "ok"))


def test_a_signature_added_is_seen_by_the_detector():
    for seed in range(20):
        assert has_signature(J._sign("@1 Please restart the app.", random.Random(seed)))


@pytest.mark.parametrize("name, text, expected", [
    ("greeting", "@115821 Hi Ian, please restart the app.", True),  # tweet replies open with the customer's handle
    ("greeting", "@115821 Please restart the app. Hi to the team!", False),
    ("customer_order_number", "@AmazonHelp @115821 where is my parcel?", False),  # a handle is not an order number
    ("customer_order_number", "@AmazonHelp order 4829301726 never came", True),
    ("customer_refund", "@Help my credit card was charged twice", False),  # a credit card is not a refund request
    ("customer_refund", "@Help I want my money back", True),
    ("apology", "@1 Oh no, that's not good. Let's fix it.", True),
    ("customer_delay", "@Help I bought it 2 days ago and it broke", False),  # a date, not a wait
    ("customer_delay", "@Help I've been waiting for 3 days", True),
])
def test_golden_properties(name, text, expected):
    assert bool(J._BY_NAME[name].present(text)) is expected


def test_a_greeting_added_after_the_handles_counts():
    rule = J._BY_NAME["greeting"]
    text, how = J.message_variant(rule, "@115821 Please restart the app.", True, random.Random(0))
    assert how == "added" and text.startswith("@115821 H") and rule.present(text)
