"""Verdict clauses and their scopes, on the sample playbook's own wording."""

import re

import pytest

from assistant.clauses import checks_for, parse_clauses, to_check
from tests.knowledge_base.conftest import PLAYBOOK


@pytest.mark.parametrize("clause, scope, statement", [
    ("the first agent reply acknowledges the problem with empathy.", "first",
     "this reply acknowledges the problem with empathy"),
    ("the agent's last reply offers further help.", "last", "this reply offers further help"),
    ("every agent reply in the conversation carries a signature.", "all", "this reply carries a signature"),
    ("all agent replies are courteous.", "all", "this reply is courteous"),
    ("at least one agent reply thanks the customer", "any", "this reply thanks the customer"),
    ("an agent reply is rude, sarcastic or dismissive.", "any", "this reply is rude, sarcastic or dismissive"),
    ("no agent reply thanks the customer.", "none", "this reply thanks the customer"),
    ("the agent asks for a password or PIN.", "any", "in this reply, the agent asks for a password or PIN"),
    ("the agent only apologises, with no way forward.", "conversation", "the agent only apologises, with no way forward"),
    ("the issue can be handled without account data.", "conversation", "the issue can be handled without account data"),
])
def test_scopes(clause, scope, statement):
    check = to_check("followed", clause)
    assert (check.scope, check.statement, check.clause, check.speaker) == (scope, statement, clause, "agent")


@pytest.mark.parametrize("clause, speaker, statement", [
    ("neither side mentions refunds (or credits).", "anyone", "this message mentions refunds"),
    ("the customer reports no problem (a compliment).", "customer", "in this message, the customer reports any problem"),
    ("the agent asks the customer for no information at all.", "agent",
     "in this reply, the agent asks the customer for any information"),
    ("the agent promises no follow-up or escalation.", "agent", "in this reply, the agent promises any follow-up or escalation"),
])
def test_a_plain_no_becomes_no_message_doing_it(clause, speaker, statement):
    check = to_check("not_applicable", clause)
    assert (check.scope, check.speaker, check.statement) == ("none", speaker, statement)
    assert to_check("violated", "the agent gives no answer and never apologises.").scope == "conversation"


@pytest.mark.parametrize("clause, scope, speaker", [
    ("No message mentions a refund.", "none", "anyone"),
    ("Every tweet carries a hashtag.", "all", "anyone"),
    ("A reply asks for the order number.", "any", "agent"),
    ("every agent reply that mentions a refund states the policy.", "conversation", "agent"),
    ("all agent replies except the first are signed.", "conversation", "agent"),
    ("the agent is polite throughout.", "conversation", "agent"),
    ('the agent says "no problem".', "conversation", "agent"),
])
def test_restricted_quoted_and_anyone_scopes(clause, scope, speaker):
    check = to_check("violated", clause)
    assert (check.scope, check.speaker) == (scope, speaker)


def test_clause_markup_variants():
    text = ("## G1: Be kind\nBe kind.\n\n1. **Followed:** the first agent reply is kind.\n"
            "2. Violated: it is not.\n3. N/A: nobody writes.\n")
    assert parse_clauses(text)[1] == {"followed": "the first agent reply is kind.", "violated": "it is not.",
                                      "not_applicable": "nobody writes."}
    nested = "- G1: Be kind\n  - Followed: kind\n  - Violated: it is not\n  - Not-applicable: no reply"
    assert parse_clauses(nested)[1] == {"followed": "kind", "violated": "it is not", "not_applicable": "no reply"}


def test_only_a_not_applicable_clause_keeps_it_and_adds_the_generic_question():
    checks = checks_for({"not_applicable": "neither side mentions refunds."})
    assert [(c.verdict, c.scope) for c in checks] == [("not_applicable", "none"), ("followed", "conversation")]
    assert [c.verdict for c in checks_for({})] == ["not_applicable", "followed"]


def test_wrapped_clauses_are_read_whole():
    text = ("## G1: Be kind\nBe kind.\n\n- Followed: the first agent reply is kind and\n  acknowledges the issue.\n"
            "- Violated: it is not.\n\nAfter the list.")
    description, clauses = parse_clauses(text)
    assert clauses == {"followed": "the first agent reply is kind and acknowledges the issue.", "violated": "it is not."}
    assert "Followed" not in description and "After the list." in description


def test_every_sample_rule_is_mostly_asked_of_single_messages():
    sections = re.split(r"\n(?=## G)", PLAYBOOK.read_text(encoding="utf-8"))[1:]
    assert len(sections) == 10
    checks = [c for section in sections for c in checks_for(parse_clauses(section)[1])]
    assert len(checks) == 25 and sum(c.scope == "conversation" for c in checks) == 6


@pytest.mark.parametrize("statement, question", [
    ("this reply thanks the customer", "Does this reply thank the customer?"),
    ("this reply carries a signature", "Does this reply carry a signature?"),
    ("this reply is courteous", "Is this reply courteous?"),
    ("this reply has no signature", "Does this reply have no signature?"),
    ("in this reply, the agent publicly promises a refund", "In this reply, does the agent publicly promise a refund?"),
    ("in this message, the customer reports any problem", "In this message, does the customer report any problem?"),
    ("this message mentions refunds.", "Does this message mention refunds?"),
    ("this reply goes straight to questions", "Does this reply go straight to questions?"),
    ("this reply must be signed", None),
    ("the agent thanks the customer", None),
])
def test_reply_statements_become_direct_questions(statement, question):
    from assistant.clauses import as_question

    assert as_question(statement) == question
