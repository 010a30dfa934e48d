"""The support judge's training data: each corruption makes a sentence the conversation cannot support."""

import random

import pytest

from assistant.conversation import Conversation, Turn
from assistant.support import support_pair
from training import support_data as S

CONV = Conversation((Turn("customer", "@Brand my parcel is 3 days late, order from Leeds https://t.co/x"),
                     Turn("agent", "@123 Sorry about that! Please DM us your order number. ^JK")), "c1",
                    {"abstractive_summaries": ["Customer is complaining that the parcel is 3 days late. Agent "
                                               "apologized and asked to DM the order number."]})


@pytest.mark.parametrize("sentence, expected", [
    ("Customer is complaining that the customer's parcel is late.", "Agent is complaining that the agent's parcel is late."),
    ("The agent asked the customer for the order number.", "The customer asked the agent for the order number."),
    ("The customer and agent looked into a parcel.", None),  # named together: no clean swap
    ("Agent thanked the customer for the patience.", None),  # either party thanks: the swap may be true
    ("It is late.", None),  # no party
])
def test_party_swaps_exchange_the_roles(sentence, expected):
    assert S.swap_party(sentence) == expected


@pytest.mark.parametrize("sentence, expected", [
    ("Customer is complaining about a late parcel.", "Customer is not complaining about a late parcel."),
    ("Agent can send a new one.", "Agent cannot send a new one."),
    ("Agent did not reply.", None),  # already negated: negating again could make it true
    ("Agent apologized.", None),  # no auxiliary to negate
    ("Customer asks whether the plan is free.", None),  # in an embedded question the negation is what was asked
    ("Agent could help with it.", None),  # "could" is never negated: "could not" may be as true
])
def test_negations(sentence, expected):
    assert S.negate(sentence) == expected


def test_an_invented_action_is_one_the_conversation_cannot_hold():
    rng = random.Random(0)
    for _ in range(30):
        made = S.invent("Agent apologized.", "I want a refund, call me, my manager is angry", rng)
        assert made is not None and "refund" not in made and "call" not in made and "manager" not in made
    assert S.invent("x", " ".join(pattern for *_, pattern in S.INVENTED).replace("|", " ").replace("\\b", ""), rng) is None


def test_a_changed_detail_never_appears_in_the_conversation():
    rng = random.Random(0)
    for _ in range(20):
        made = S.change_detail("The parcel is 3 days late.", "my parcel is 3 days late, 4 or 5 maybe", [], rng)
        assert made and made != "The parcel is 3 days late." and not any(f" {n} days" in made for n in (3, 4, 5))
    made = S.change_detail("The order from Leeds is late.", "order from Leeds", ["Leeds", "Bristol"], rng)
    assert made == "The order from Bristol is late."
    assert S.change_detail("The order is late.", "order", ["Bristol"], rng) is None  # nothing to change


def test_another_dialogs_sentence_must_share_few_words_and_say_enough():
    rng = random.Random(0)
    pool = [("c9", "Customer says the router keeps dropping the wifi signal at night."),
            ("c8", "Customer thanked the agent."),  # either party's stock sentence: never used
            ("c7", "Customer is complaining that the parcel is late and damaged.")]  # overlaps CONV: never used
    made = {S.corrupt("elsewhere", "Customer is complaining that the parcel is 3 days late.", CONV, pool, [], rng)
            for _ in range(10)}
    assert made == {"Customer says the router keeps dropping the wifi signal at night."}


def test_examples_are_balanced_labelled_by_kind_and_read_as_the_check_reads():
    other = Conversation((Turn("customer", "my router keeps dropping wifi"), Turn("agent", "Restart the router.")),
                         "c2", {"abstractive_summaries": ["Customer says the router keeps dropping the wifi signal. "
                                                          "Agent suggested restarting the router."]})
    third = Conversation((Turn("customer", "my train to Leeds was cancelled at 9am"), Turn("agent", "Sorry, it was.")),
                         "c3", {"abstractive_summaries": ["Customer is angry that the Leeds train was cancelled at 9am "
                                                          "without notice. Agent apologised for the cancellation."]})
    examples = S.build_examples([CONV, other, third], 24, seed=1)
    assert len(examples) == 24 and sum(e.label == "yes" for e in examples) == 12
    assert {e.rule_type for e in examples if e.label == "yes"} == {"human"}
    for e in examples:
        conv = {"c1": CONV, "c2": other, "c3": third}[e.conversation_id]
        assert (e.first, e.second) == support_pair(conv, e.sentence)
        if e.label == "yes":
            assert e.sentence in S.human_sentences(conv)
        else:
            assert e.sentence not in S.human_sentences(conv)


def test_a_kind_that_cannot_be_made_is_an_error_not_a_silent_gap():
    with pytest.raises(ValueError, match="no elsewhere example"):
        S.build_examples([CONV], 12, seed=0)  # one dialog: no other dialog's sentence to borrow


def test_the_pair_reads_the_cleaned_conversation():
    first, second = support_pair(CONV, " The parcel  is late. ")
    assert first == "Does the conversation support this summary sentence? The parcel is late."
    assert "https://" not in second and "@123" not in second and "^JK" not in second
    assert second.startswith("customer: ") and " agent: Sorry about that!" in second
