import json

import pytest

from assistant.conversation import Conversation, Turn, parse_conversation, from_tweetsumm, validate
from assistant.errors import InvalidConversation


def speakers(conv: Conversation) -> list[str]:
    return [t.speaker for t in conv.turns]


def test_labelled_lines_any_case_and_aliases():
    conv = parse_conversation("CUSTOMER: my order is late\nagent: sorry, checking\nUser: thanks\nSupport: done")
    assert speakers(conv) == ["customer", "agent", "customer", "agent"]
    assert conv.turns[1].text == "sorry, checking"


def test_seed_report_user_agent_format_and_continuation_lines():
    conv = parse_conversation("user: hi\nmy phone is broken\nagent: which model?\n\nuser: iPhone")
    assert conv.turns[0] == Turn("customer", "hi\nmy phone is broken")
    assert speakers(conv) == ["customer", "agent", "customer"]


def test_official_processor_tab_format():
    text = "\tCustomer:\tMy watchlist is not updating.\n\tAgent:\tWe are looking into this.\n"
    conv = parse_conversation(text)
    assert conv.turns == (Turn("customer", "My watchlist is not updating."), Turn("agent", "We are looking into this."))


def test_json_list_of_turns_with_role_content_keys():
    data = [{"role": "user", "content": "refund please"}, {"role": "assistant", "content": "done"}]
    assert speakers(parse_conversation(json.dumps(data))) == ["customer", "agent"]


def test_tweetsumm_record_keeps_id_and_references():
    record = {"conversation_id": "abc", "turns": [{"speaker": "customer", "text": "a"}, {"speaker": "agent", "text": "b"}],
              "abstractive_summaries": ["Customer said a. Agent said b."]}
    conv = parse_conversation(json.dumps(record))
    assert conv.conversation_id == "abc"
    assert conv.meta["abstractive_summaries"] == ["Customer said a. Agent said b."]
    assert conv == from_tweetsumm(record)


def test_round_trip_to_dict():
    conv = parse_conversation("Customer: a\nAgent: b")
    assert parse_conversation(json.dumps(conv.to_dict())) == conv


def test_twitter_handles_company_is_first_addressee():
    text = ("@hulu_support My watchlist is not updating\n@658975 Apologies, we're looking into it\n"
            "@hulu_support Tried logging out\n@hulu_support still broken\n@658975 Sorry! ^JL")
    conv = parse_conversation(text)
    assert speakers(conv) == ["customer", "agent", "customer", "agent"]
    assert conv.turns[2].text == "@hulu_support Tried logging out @hulu_support still broken"


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"),
    ("   \n\t ", "empty"),
    ("Customer: hello?\nCustomer: anyone there?", "one-sided"),
    ("Agent: hi\nAgent: bye", "one-sided"),
    ("just some notes about a call", "Accepted formats"),
    ("{not json", "not valid JSON"),
    ('{"foo": 1}', "no list of turns"),
    ('[{"speaker": "robot", "text": "x"}]', "speaker"),
    ("\x00\x01\x02binary\xff" * 20, "binary"),
    ("Customer: " + "a" * 500_000 + "\nAgent: ok", "too long"),
])
def test_bad_input_gets_clear_message(text, fragment):
    with pytest.raises(InvalidConversation, match=fragment):
        parse_conversation(text)


def test_binary_bytes_rejected():
    with pytest.raises(InvalidConversation, match="binary"):
        parse_conversation(bytes(range(256)) * 10)


def test_validate_limit_is_configurable():
    conv = parse_conversation("Customer: " + "a" * 50 + "\nAgent: ok")
    with pytest.raises(InvalidConversation, match="too long"):
        validate(conv, max_chars=40)


def test_all_tweetsumm_test_dialogs_parse_from_their_text(tweetsumm_dir):
    from training.tweetsumm import load_split

    convs = load_split("test", tweetsumm_dir)
    assert len(convs) == 110
    for conv in convs:
        parsed = parse_conversation(conv.to_text())
        # the labelled-lines form keeps every turn and speaker; only blank lines and trailing spaces go
        assert [(t.speaker, t.text.split()) for t in parsed.turns] == [(t.speaker, t.text.split()) for t in conv.turns]


@pytest.mark.parametrize("text", ['{"turns": null}', '{"messages": null}', '{"turns": 5}', "[" * 5000 + "]" * 5000])
def test_malformed_json_shapes_are_clear_errors(text):
    with pytest.raises(InvalidConversation):
        parse_conversation(text)


@pytest.mark.parametrize("data", [
    "\ufeffCustomer: a\r\nAgent: b\r\n".encode(),                                   # Notepad: BOM + CRLF
    b'\xef\xbb\xbf[{"speaker": "customer", "text": "a"}, {"speaker": "agent", "text": "b"}]',
    b"Customer: a\nAgent: b",
])
def test_windows_files(data):
    conv = parse_conversation(data)
    assert [(t.speaker, t.text) for t in conv.turns] == [("customer", "a"), ("agent", "b")]


def test_windows_1252_text_is_not_binary():
    conv = parse_conversation(b"Customer: I don\x92t want it\nAgent: sorry")
    assert conv.turns[0].text == "I don\u2019t want it"


@pytest.mark.parametrize("text", [
    "[10:32] Customer: a\n[10:33] Agent Sarah: b",
    "**Customer:** a\n**Agent:** b",
    "10:32 - customer: a\n10:33 pm - agent: b",
])
def test_chat_export_labels(text):
    assert [(t.speaker, t.text) for t in parse_conversation(text).turns] == [("customer", "a"), ("agent", "b")]


def test_lowercase_word_after_role_is_not_a_name():
    conv = parse_conversation("customer: hi\nagent: hello\ncustomer service: is slow")
    assert [t.speaker for t in conv.turns] == ["customer", "agent"]  # last line continues the agent turn


def test_twitter_customer_addressing_several_company_handles():
    conv = parse_conversation("@AcmeHelp my order\n@john sorry\n@AcmeCEO @AcmeHelp still nothing\n@john @AcmeCEO on it")
    assert speakers(conv) == ["customer", "agent", "customer", "agent"]


def test_round_trip_keeps_names_times_and_automated_roles():
    conv = parse_conversation("[10:32] Bot: Hi!\n[10:33] Ann Lee: my order\n[10:34] Sam (Support): on it")
    assert [(t.speaker, t.name, t.time) for t in conv.turns] == [
        ("bot", None, "10:32"), ("customer", "Ann Lee", "10:33"), ("agent", "Sam", "10:34")]
    again = parse_conversation(json.dumps(conv.to_dict()))
    assert again == conv and again.meta["format"] == "tweetsumm"
    assert conv.to_text() == "Bot: Hi!\nCustomer: my order\nAgent: on it"


def test_turn_roles_are_checked():
    assert Turn("system", "Chat started").speaker == "system"
    with pytest.raises(InvalidConversation, match="customer, agent, bot, system"):
        Turn("robot", "x")


@pytest.mark.parametrize("text, fmt", [
    ("Customer: a\nAgent: b", "chat"),
    ("@AcmeHelp a\n@123 b", "twitter"),
    ('[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]', "json-turns"),
])
def test_meta_names_the_format(text, fmt):
    assert parse_conversation(text).meta["format"] == fmt
