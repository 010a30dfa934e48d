"""Golden cases on real TweetSumm turns (test split), checked against the shared data when present."""

import json

import pytest

from assistant.cleaning import clean_conversation, clean_text, redact_pii
from assistant.conversation import parse_conversation

# (conversation_id prefix, turn index, raw text, cleaned text)
GOLDEN = [
    ("54fe1890", 1,
     "@696741 We don't want to leave you feeling this way. Please provide more details so that we can help you. DM us. ^ML https://t.co/wKJHDXWGRQ",
     "We don't want to leave you feeling this way. Please provide more details so that we can help you. DM us."),
    ("f6cc5722", 1,
     "@507897 Hi, due to electric supply problems trains are not running to Reading. https://t.co/32WcR5jrvQ ^BK",
     "Hi, due to electric supply problems trains are not running to Reading."),
    ("f6cc5722", 7,
     "@507897 Hi Adrian, we have just been informed by @115793 engineers that the line is open again and trains can now run between Wokingham and Reading. Sorry for the confusion. ^MB",
     "Hi Adrian, we have just been informed by engineers that the line is open again and trains can now run between Wokingham and Reading. Sorry for the confusion."),
    ("1fbfbb77", 7,
     "@616965 To double check the services, I would just need the address. You can send that in a DM, though, so it's not public. -Scott",
     "To double check the services, I would just need the address. You can send that in a DM, though, so it's not public."),
    ("86339567", 1,
     "@179120 Hi there, we're aware of the issue and our IT team are working on a fix as we speak. Sorry for the inconvenience. ^Fiona",
     "Hi there, we're aware of the issue and our IT team are working on a fix as we speak. Sorry for the inconvenience."),
    ("5053127b", 12,
     "@601573 We have released Lightroom Classic CC which has all the features the old Lightroom CC 2015.12 had, you can check this article to see the differences betweem LR Classic &amp; the new Lightroom CC: https://t.co/Cv0Aclaio3 . ^Sahil",
     "We have released Lightroom Classic CC which has all the features the old Lightroom CC 2015.12 had, you can check this article to see the differences betweem LR Classic & the new Lightroom CC:."),
    ("2545a146", 1,
     "@802404 Hi, Aimee. What flight are you referring to? I would like to take a look. *AJL",
     "Hi, Aimee. What flight are you referring to? I would like to take a look."),
    ("96582ff6", 7,
     "@127318 Hi William, In order to discuss this further we ask that you please contact our billing specialist at: 800-892-4357\u200b\u200b. Thank you. ^SS",
     "Hi William, In order to discuss this further we ask that you please contact our billing specialist at: 800-892-4357. Thank you."),
]


@pytest.mark.parametrize("cid, idx, raw, cleaned", GOLDEN, ids=[f"{g[0]}-{g[1]}" for g in GOLDEN])
def test_golden_tweetsumm_turns(cid, idx, raw, cleaned):
    assert clean_text(raw) == cleaned


def test_goldens_are_real_turns(tweetsumm_dir):
    rows = {json.loads(line)["conversation_id"][:8]: json.loads(line) for line in open(tweetsumm_dir / "test.jsonl")}
    for cid, idx, raw, _ in GOLDEN:
        assert rows[cid]["turns"][idx]["text"] == raw


@pytest.mark.parametrize("raw, cleaned", [
    ("Tom &amp;gt; Jerry &lt;3", "Tom > Jerry <3"),               # double-escaped entity
    ("see www.example.com/help now", "see now"),
    ("multi\n\n  line \t text", "multi line text"),
    ("a dash - in the middle is kept", "a dash - in the middle is kept"),
    ("an *emphasis* word is kept", "an *emphasis* word is kept"),
    ("email me at a.b@example.com", "email me at a.b@example.com"),  # an e-mail is not a handle
    ("@brand", ""),
    ("I did *NOT* order this", "I did *NOT* order this"),            # emphasis, not a *XY sign-off
    ("^ same here", "^ same here"),                                   # a caret pointing up, not ^XY
])
def test_edge_cases(raw, cleaned):
    assert clean_text(raw) == cleaned


@pytest.mark.parametrize("text", ["order number is 123456789", "Order #40123456", "Account 12345678", "ip 192.168.100.200"])
def test_redaction_keeps_order_account_and_ip_numbers(text):
    assert redact_pii(text) == text


def test_signatures_are_removed_from_agent_turns_only():
    conv = parse_conversation("Customer: my flight is London - Paris\nAgent: rebooked you - Ann")
    assert [t.text for t in clean_conversation(conv).turns] == ["my flight is London - Paris", "rebooked you"]


def test_redaction():
    text = "Mail jo.doe+x@mail.co.uk, call +1 800-892-4357, card 4111 1111 1111 1111, order 4111 1111 1111 1112"
    assert redact_pii(text) == "Mail [EMAIL], call [PHONE], card [CARD], order 4111 1111 1111 1112"
    assert clean_text("reach me at jo@mail.com ^AB", redact=True) == "reach me at [EMAIL]"


def test_clean_conversation_drops_empty_turns():
    conv = parse_conversation("Customer: @acme https://t.co/x\nCustomer: help\nAgent: @123 on it ^JL")
    cleaned = clean_conversation(conv)
    assert [(t.speaker, t.text) for t in cleaned.turns] == [("customer", "help"), ("agent", "on it")]


def test_cleaning_keeps_names_and_signs_only_agent_turns():
    conv = parse_conversation("[10:32] Ann (Customer): my flight - Paris\n[10:33] Bob (Support): rebooked you -Bob")
    cleaned = clean_conversation(conv)
    assert [(t.speaker, t.name, t.time, t.text) for t in cleaned.turns] == [
        ("customer", "Ann", "10:32", "my flight - Paris"), ("agent", "Bob", "10:33", "rebooked you")]
