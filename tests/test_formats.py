"""The pasted transcript formats: golden parses of invented exports, detection errors, role inference."""

import json
from pathlib import Path

import pytest

from assistant.conversation import parse_conversation, validate, with_roles
from assistant.errors import InvalidConversation
from assistant.formats import detect
from assistant.formats.base import strip_html
from assistant.formats.roles import infer_roles, matches_agent
from assistant.formats.base import Message

FIXTURES = Path(__file__).parent / "fixtures" / "transcripts"
CASES = sorted(p for p in FIXTURES.iterdir() if not p.name.endswith(".expected.json"))


def test_every_fixture_has_a_golden_parse():
    assert len(CASES) >= 14
    for case in CASES:
        assert case.with_name(case.name.rsplit(".", 1)[0] + ".expected.json").exists(), case.name


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_fixture_parses_to_its_golden_turns(path):
    expected = json.loads(path.with_name(path.name.rsplit(".", 1)[0] + ".expected.json").read_text(encoding="utf-8"))
    conv = parse_conversation(path.read_text(encoding="utf-8"))
    assert conv.meta["format"] == expected["format"]
    assert conv.meta["roles"] == expected["roles"]
    assert conv.to_dict()["turns"] == expected["turns"]
    assert conv.meta.get("internal_notes", []) == expected.get("internal_notes", [])


@pytest.mark.parametrize("name, fmt", [
    ("chat_bracket_ampm.txt", "chat"), ("whatsapp_ios.txt", "whatsapp"), ("whatsapp_android.txt", "whatsapp"),
    ("email_gmail_quoted.txt", "email"), ("email_outlook_newest_first.txt", "email"), ("livechat_labels.txt", "chat"),
])
def test_detect_names_the_format(name, fmt):
    assert detect((FIXTURES / name).read_text(encoding="utf-8").splitlines()) == fmt


def test_email_thread_keeps_each_message_once_without_quotes_or_signatures():
    conv = parse_conversation((FIXTURES / "email_helpdesk_export.txt").read_text(encoding="utf-8"))
    texts = [t.text for t in conv.turns]
    assert len(texts) == 3 and sum("Export to PDF" in t for t in texts) == 1
    assert not any(x in t for t in texts for x in ("Sent from my iPhone", "Quillpad Help Team", "wrote:"))
    assert not any(line.startswith(">") for t in texts for line in t.splitlines())


def test_newest_first_email_comes_out_oldest_first():
    conv = parse_conversation((FIXTURES / "email_outlook_newest_first.txt").read_text(encoding="utf-8"))
    assert [t.speaker for t in conv.turns] == ["customer", "agent", "customer", "agent"]
    assert conv.turns[0].text.startswith("Hello,") and "Kind regards" not in conv.turns[-1].text


def test_unsigned_top_of_a_copied_reply_answers_the_quoted_sender():
    conv = parse_conversation((FIXTURES / "email_gmail_quoted.txt").read_text(encoding="utf-8"))
    assert conv.turns[-1].name is None and conv.turns[-1].speaker == "agent"


def test_internal_notes_are_not_turns():
    for name in ("zendesk_comments.json", "intercom_conversation.json", "freshdesk_ticket.json"):
        conv = parse_conversation((FIXTURES / name).read_text(encoding="utf-8"))
        notes = conv.meta["internal_notes"]
        assert len(notes) == 1 and all(notes[0]["text"] not in t.text for t in conv.turns)


def test_html_bodies_become_text():
    assert strip_html("<p>Hi&nbsp;Noah,</p><p>it is <b>fixed</b> &amp; live</p>") == "Hi Noah,\nit is fixed & live"


def test_freshdesk_bare_conversation_list():
    data = [{"body_text": "Where is my parcel?", "incoming": True, "private": False, "user_id": 1},
            {"body_text": "It ships today.", "incoming": False, "private": False, "user_id": 2}]
    conv = parse_conversation(json.dumps(data))
    assert conv.meta["format"] == "freshdesk" and [t.speaker for t in conv.turns] == ["customer", "agent"]


# --- detection errors: the closest format, the line number, the line ----------------------------------------

@pytest.mark.parametrize("text, fragments", [
    ("[10:32 AM] John Smith: my order is late\n[10:33 AM] Sarah: checking\n10:34 Sarah: found it",
     ["chat transcript", "line 3", '"10:34 Sarah: found it"']),
    ("[10:32] John: hi\n[10:33] Sarah: hello\nSarah: are you there?",
     ["line 3", "plain message line inside a bracket chat"]),
    ("12/03/2024, 10:32 - Ann: hi\n[12/03/2024, 10:33:01] Bob: hello",
     ["WhatsApp export", "line 2", "ios line inside a android export"]),
    ("Exported by me\n12/03/2024, 10:32 - Ann: hi\n12/03/2024, 10:33 - Bob: hello",
     ["WhatsApp export", "line 1", '"Exported by me"']),
    ("a\nb\nc\nd\ne\nf\nCustomer: hi\nAgent: hello", ["line 1", "before the first message line (line 7)"]),
    ("From: Ann <ann@gmail.com>\nTo: help@shop.example\n\nmy order is late\n---\nthis one has no sender",
     ["e-mail thread", "line 6", "no From: line"]),
    ("just some notes about a call", ["Could not recognise", 'line 1: "just some notes about a call"', "Accepted formats"]),
    # nothing fits: the format the paste most resembles is named
    ("notes from the call\nthe customer said: it broke", ["closest is a chat transcript", "line 2", "not a speaker"]),
    ("12-03-2024 John said hi\n12-03-2024 Mary said hello", ["closest is a WhatsApp export", "line 1"]),
    ("Subject: refund\nplease refund me", ["closest is an e-mail thread", "line 1", "without a From: block"]),
])
def test_a_line_that_does_not_fit_is_quoted_with_its_number(text, fragments):
    with pytest.raises(InvalidConversation) as err:
        parse_conversation(text)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_leading_bracket_is_chat_not_json():
    conv = parse_conversation("[10:32 AM] John Smith: my order is late\n[10:33 AM] Sarah: let me check")
    assert conv.meta["format"] == "chat" and [t.speaker for t in conv.turns] == ["customer", "agent"]


def test_short_preamble_is_kept_as_a_system_turn():
    conv = parse_conversation("Ticket 4411 - late order\nCustomer: where is it?\nAgent: it ships today")
    assert conv.turns[0].speaker == "system" and conv.turns[0].text == "Ticket 4411 - late order"


def test_a_name_that_occurs_once_in_a_labelled_transcript_is_text():
    conv = parse_conversation("Customer: my phone\nApp Version: 5.1\nAgent: thanks")
    assert [t.speaker for t in conv.turns] == ["customer", "agent"] and conv.turns[0].text == "my phone\nApp Version: 5.1"


# --- roles -------------------------------------------------------------------------------------------------

def test_agents_list_beats_who_opens_the_conversation():
    text = "Sarah Lee: Hi John, your order shipped.\nJohn Smith: thanks, when does it arrive?\nSarah Lee: Friday."
    assert parse_conversation(text).meta["roles"] == {"Sarah Lee": "customer", "John Smith": "agent"}
    conv = parse_conversation(text, agents=("sarah",))
    assert conv.meta["roles"] == {"Sarah Lee": "agent", "John Smith": "customer"}
    assert conv.meta["role_reasons"] == {"Sarah Lee": "in your list of agent names",
                                         "John Smith": "not in your list of agent names"}


@pytest.mark.parametrize("name, agents, expected", [
    ("Sarah Lee", ["sarah"], True), ("Sarah Lee", ["SARAH LEE"], True), ("Sarah Lee", ["Lee"], False),
    ("Sarah", ["Sarah Lee"], False), ("Sarahjane", ["sarah"], False),
])
def test_agent_names_match_full_or_first_name(name, agents, expected):
    assert matches_agent(name, agents) is expected


def test_company_domains_share_a_role_when_nobody_uses_a_consumer_address():
    messages = [Message("our VPN is down", "Ann", address="ann@client.example"),
                Message("+1, me too", "Raj", address="raj@client.example"),
                Message("we are on it", "Mo", address="mo@vendor.example")]
    roles = infer_roles(messages)
    assert {n: d.role for n, d in roles.items()} == {"Ann": "customer", "Raj": "customer", "Mo": "agent"}
    assert roles["Raj"].reason == "same company domain as Ann (client.example)"


def test_noreply_sender_is_a_bot():
    roles = infer_roles([Message("Ticket received", "Shop", address="no-reply@shop.example")])
    assert roles["Shop"].role == "bot"


def test_with_roles_swaps_and_records_the_override():
    conv = parse_conversation("Sarah: hi, your order shipped\nJohn: thanks")
    swapped = with_roles(conv, {"Sarah": "agent", "John": "customer"})
    assert [t.speaker for t in swapped.turns] == ["agent", "customer"] and conv.turns[0].speaker == "customer"
    assert swapped.meta["role_reasons"]["Sarah"] == "set by you"
    with pytest.raises(InvalidConversation, match="No speaker named 'Bob'"):
        with_roles(conv, {"Bob": "agent"})
    with pytest.raises(InvalidConversation, match="Unknown role 'boss'"):
        with_roles(conv, {"John": "boss"})


def test_customer_and_bot_only_is_one_sided_with_a_clear_message():
    text = "Bot: Hi! How can I help?\nVisitor: my refund\nBot: Please enter your order number."
    with pytest.raises(InvalidConversation, match="only replies are bot messages"):
        parse_conversation(text)
    conv = parse_conversation(text, require_both=False)
    assert [t.speaker for t in conv.turns] == ["bot", "customer", "bot"]
    with pytest.raises(InvalidConversation, match="Roles were inferred as"):
        validate(parse_conversation("Ann: hi\nAnn: anyone?", require_both=False))


def test_outlook_bold_headers_and_mailto_addresses():
    text = ("*From:* John Smith [mailto:john@gmail.com]\n*Sent:* Monday, March 4, 2024 10:00 AM\n*To:* Help\n\n"
            "My order is late.\n\n-----Original Message-----\nFrom: orders@shop.example\n"
            "Sent: Sunday, March 3, 2024 9:00 AM\n\nYour order has shipped.")
    conv = parse_conversation(text)
    assert [(t.speaker, t.name, t.text) for t in conv.turns] == [
        ("agent", "orders@shop.example", "Your order has shipped."), ("customer", "John Smith", "My order is late.")]


def test_user_names_count_behind_a_timestamp_but_not_in_plain_lines():
    conv = parse_conversation("[10:32] jsmith: my build fails\n[10:33] sarah_support: which version?")
    assert [(t.speaker, t.name) for t in conv.turns] == [("customer", "jsmith"), ("agent", "sarah_support")]
    with pytest.raises(InvalidConversation, match="Could not recognise"):
        parse_conversation("jsmith: my build fails\nsarah_support: which version?")
