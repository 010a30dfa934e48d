"""Rule compilation into check plans (fake compile model and judge): clause rules compile directly, prose rules
through a validated spec, a rule nothing understands falls back and is never dropped; specs a manager types are
checked; plans read in plain words."""

import json
from dataclasses import asdict

import pytest

from assistant.backends.base import GenerationParams
from assistant.clauses import Check
from assistant.plans import (
    REVIEW, InvalidSpec, ModelCompiler, Plan, Spec, compile_rule, from_clauses, from_spec, rule_key, spec_of,
    spec_from_description, spec_schema, stated_prohibition,
)
from tests.conftest import FakeGenerator

CLAUSED = ("Each agent reply ends with a signature.\n\n- Followed: every agent reply carries a signature.\n"
           "- Violated: at least one agent reply has no signature.")
PROSE = "When a customer reports a delayed flight, the agent apologises and gives the new departure time."

GOOD = {"applies": "when", "trigger": "Does this message report a delayed flight?", "trigger_in": "customer",
        "scope": "any_reply", "question": "Does this reply give the new departure time?",
        "example_compliant": "Sorry! It now leaves at 6pm.", "example_violating": "Thanks for flying with us."}


class SpecGenerator(FakeGenerator):
    """Answers each compile prompt with the next of ``replies`` (JSON text), recording the decoding params."""

    def __init__(self, *replies):
        super().__init__()
        self.replies = list(replies)
        self.params: list[GenerationParams] = []

    def stream(self, prompt, params):
        self.prompts.append(prompt)
        self.params.append(params)
        yield self.replies.pop(0)


def judge_by_words(conv, rule_text, check):
    """P(yes) 0.9 when the reply holds a digit (a time), else 0.2: the question separates GOOD's examples."""
    return 0.9 if any(ch.isdigit() for ch in conv.turns[-1].text) else 0.2


def render(messages):
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


def test_a_clause_rule_compiles_from_its_clauses_with_the_signature_detector():
    plan = from_clauses("G4", "G4: Sign every public reply", CLAUSED)
    assert plan.origin == "clauses" and plan.always
    (check,) = [c for c in plan.checks if c.verdict == "followed"]
    assert check.scope == "all" and check.detector == "signature"
    assert "decided exactly by the signature detector" in plan.describe()
    gen = SpecGenerator()
    assert ModelCompiler(gen, render)("G4", "G4: Sign", CLAUSED).origin == "clauses" and gen.prompts == []  # no model


def test_a_prose_rule_compiles_through_a_validated_spec():
    gen = SpecGenerator(json.dumps(GOOD))
    plan = ModelCompiler(gen, render, judge_by_words)("D1", "D1: Delays", PROSE)
    assert plan.origin == "model" and not plan.needs_review and not plan.always
    trigger, requirement = plan.checks
    assert (trigger.verdict, trigger.scope, trigger.speaker) == ("not_applicable", "none", "customer")
    assert (requirement.verdict, requirement.scope) == ("followed", "any")
    assert plan.describe().splitlines() == [
        "Applies when a customer message answers yes to: Does this message show that a customer reports a delayed flight?",
        "Asks of each agent reply (one is enough): Does this reply give the new departure time? (yes means followed)"]
    assert "Rule:\nD1: Delays. When a customer" in gen.prompts[0]  # the worked examples come first
    assert json.loads(gen.params[0].json_schema)["properties"]["applies"]["enum"] == ["when"]  # "When ..." is conditional
    assert plan.key == rule_key("D1: Delays", PROSE)


def test_an_inverted_question_is_rejected_and_the_next_attempt_kept():
    inverted = {**GOOD, "example_compliant": "Thanks for flying with us.", "example_violating": "It leaves at 6pm."}
    gen = SpecGenerator(json.dumps(inverted), json.dumps(GOOD))
    plan = ModelCompiler(gen, render, judge_by_words)("D1", "D1: Delays", PROSE)
    assert plan.origin == "model" and not plan.needs_review and len(gen.prompts) == 2
    assert gen.params[0].temperature == 0.0 and gen.params[1].temperature > 0  # greedy first, then samples


def test_a_spec_whose_examples_never_separate_is_kept_for_review():
    flat = {**GOOD, "example_compliant": "Sorry about that.", "example_violating": "Thanks for flying with us."}
    plan = ModelCompiler(SpecGenerator(*[json.dumps(flat)] * 3), render, judge_by_words)("D1", "D1: Delays", PROSE)
    assert plan.origin == "model" and plan.needs_review and plan.note.startswith(REVIEW)
    assert "Needs review" in plan.describe()


def test_a_question_a_detector_decides_needs_no_review_even_if_the_judge_could_not_separate_it():
    signed = {"applies": "always", "trigger": "", "trigger_in": "customer", "scope": "every_reply",
              "question": "Is this reply signed with the agent's initials?", "example_compliant": "Thanks for waiting! ^JK",
              "example_violating": "Thanks for waiting!"}
    rule = "Every public reply is signed with the agent's initials."
    plan = ModelCompiler(SpecGenerator(*[json.dumps(signed)] * 3), render, lambda *a: 0.5)("S1", "S1: Sign", rule)
    assert plan.origin == "model" and plan.note.startswith(REVIEW)  # the judge could not tell its examples apart
    assert [c.detector for c in plan.checks] == ["signature"] and not plan.needs_review  # ... but never answers it
    assert "Needs review" not in plan.describe()


def test_a_rule_no_attempt_understands_falls_back_and_is_never_dropped():
    gen = SpecGenerator("not json", json.dumps({**GOOD, "question": "Apologise"}),
                        json.dumps({**GOOD, "question": "Does this reply mention the weather forecast?"}))
    plan = ModelCompiler(gen, render, judge_by_words)("D1", "D1: Delays", PROSE)
    assert plan.origin == "fallback" and plan.needs_review and len(plan.checks) == 2
    assert "not JSON" in plan.note and "yes/no question" in plan.note and "shares no word with the rule" in plan.note
    assert compile_rule(None, "D1", "D1: Delays", PROSE).origin == "fallback"  # no compile model at all


def test_a_rule_that_opens_with_its_condition_is_triggered_by_its_own_words():
    vague = {**GOOD, "trigger": "Does this message involve a private channel?", "trigger_in": "agent"}
    rule = ("When a traveller's bag is delayed, missing or damaged, or an item is left behind, the agent points to "
            "the baggage desk and the departure time.")
    plan = ModelCompiler(SpecGenerator(json.dumps(vague)), render, judge_by_words)("2.2", "2.2 Bags", rule)
    assert plan.spec.trigger == ("Does this message show that a traveller's bag is delayed, missing or damaged, "
                                 "or an item is left behind?") and plan.spec.trigger_in == "customer"


def test_a_trigger_that_restates_the_requirement_is_dropped():
    circular = {**GOOD, "applies": "when", "trigger": "Does this message give the new departure time?"}
    rule = "Agents give the new departure time when a flight is delayed."  # the condition is not stated first
    plan = ModelCompiler(SpecGenerator(json.dumps(circular)), render, judge_by_words)("D1", "D1: Delays", rule)
    assert plan.always and plan.checks[0].verdict == "followed"


@pytest.mark.parametrize("rule,applies,scopes", [
    ("Agents thank the customer at least once.", ["always"], ["any_reply"]),
    ("The agent's first reply shows empathy.", ["always"], ["first_reply"]),
    ("Every public reply is signed.", ["always"], ["every_reply"]),
    ("Agents never ask for passwords.", ["always", "when"], ["no_reply"]),
    ("When a customer reports a delay, the last reply we post gives a new time.", ["when"], ["last_reply"]),
    ("If a refund comes up, explain the policy.", ["when"], ["any_reply", "no_reply"]),
    # no reply named: something done once is done, by any reply (not "every reply gives a next step", nor "the first
    # reply does", which the rule does not say); a conduct is kept throughout
    ("The agent gives the customer a way forward.", ["always"], ["any_reply", "no_reply"]),
    ("Agents stay polite and professional.", ["always"], ["every_reply", "any_reply", "no_reply"]),
    ("Be courteous in all your replies.", ["always"], ["every_reply", "any_reply", "no_reply"]),
])
def test_the_rules_own_words_narrow_what_the_model_may_choose(rule, applies, scopes):
    properties = json.loads(spec_schema(rule))["properties"]
    assert properties["applies"]["enum"] == applies
    assert properties["scope"]["enum"] == scopes


@pytest.mark.parametrize("rule,every", [
    ("Keep the tone friendly.", True), ("Use a polite tone.", True), ("Agents remain calm.", True),
    ("Be courteous in all your replies.", True),
    ("Escalate to a supervisor when the issue remains unresolved.", False),  # a condition states no conduct
    ("Offer an overnight stay at a partner hotel.", False), ("Ask the customer to stay on the line.", False),
    ("Be clear about when the refund arrives.", False), ("Refund the fare, which is always the full fare.", False),
    ("Mention the policy in your replies to a rebooking request.", False),
])
def test_every_reply_only_for_a_conduct_kept_throughout(rule, every):
    assert ("every_reply" in json.loads(spec_schema(rule))["properties"]["scope"]["enum"]) is every


def test_a_typed_spec_is_checked_and_every_problem_named():
    with pytest.raises(InvalidSpec) as exc:
        Spec.from_dict({"applies": "sometimes", "scope": "all_replies", "question": "Apologise", "colour": "red"})
    message = str(exc.value)
    for part in ("unknown field 'colour'", "applies must be", "scope must be one of", "question must be a yes/no"):
        assert part in message
    with pytest.raises(InvalidSpec, match="trigger must be a yes/no question about one message"):
        Spec.from_dict({**GOOD, "trigger": ""})
    spec = Spec.from_dict({"applies": "always", "trigger": "ignored", "scope": "no_reply",
                           "question": "Does this reply ask for a password?"})
    assert spec.trigger == "" and [(c.verdict, c.scope) for c in spec.checks()] == [("violated", "any")]


def test_a_stored_plan_takes_the_detectors_of_today_when_read():
    """A plan stored before the thanks detector existed asks the model; read again, its thanks question goes to the
    detector without compiling the rule again. A fallback plan's generic questions stay with the judge."""
    thanks = Check("followed", "any", "Does this reply thank the customer?", "Does this reply thank the customer?")
    stored = Plan("G9", "G9: Thank the customer", "k", "model", (thanks,)).to_dict()
    assert stored["checks"][0]["detector"] is None
    assert [c.detector for c in Plan.from_dict(stored).checks] == ["thanks"]
    assert [c.detector for c in Plan.from_dict({**stored, "origin": "fallback"}).checks] == [None]
    whole = Check("followed", "conversation", "Does this reply thank the customer?", "x")
    assert Plan.from_dict({**stored, "checks": [asdict(whole)]}).checks[0].detector is None


@pytest.mark.parametrize("spec", [
    Spec("when", "Does this reply give the new departure time?", "any_reply", "Does this message report a delay?"),
    Spec("when", "Does this reply promise a refund?", "no_reply", "Does this message mention a refund?", "anyone"),
    Spec("when", "Does this reply say when?", "every_reply", "Does this message promise a follow-up?", "agent"),
    Spec("always", "Does this reply carry a signature?", "every_reply"),
    Spec("always", "Does this reply greet the customer?", "first_reply"),
    Spec("always", "Does this reply offer more help?", "last_reply"),
    Spec("always", "Does this conversation end with the issue solved?", "conversation"),
])
def test_a_plan_s_words_give_back_its_spec(spec):
    """What eval.audit --plans-from replays: a model plan as a run recorded it, in words."""
    assert spec_from_description(from_spec("D1", "D1", PROSE, spec, "model").describe()) == spec


def test_plans_round_trip_and_give_a_spec_to_edit():
    plan = ModelCompiler(SpecGenerator(json.dumps(GOOD)), render, judge_by_words)("D1", "D1: Delays", PROSE)
    assert Plan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    assert spec_of(plan) == plan.spec
    clause = from_clauses("G4", "G4: Sign every public reply", CLAUSED)
    edit = spec_of(clause)
    assert (edit.applies, edit.scope, edit.question) == ("always", "every_reply", "Does this reply carry a signature?")


def test_a_question_written_against_its_scope_is_turned_round():
    """'Never blame the customer' compiled as 'Does this reply stay courteous?' under no_reply: yes would mean
    violated. The judge says yes to the compliant example, so the scope becomes every_reply."""
    inverted = {"applies": "always", "trigger": "", "trigger_in": "customer", "scope": "no_reply",
                "question": "Does this reply stay courteous and give the time?",
                "example_compliant": "Sorry! It now leaves at 6pm.", "example_violating": "Thanks for nothing."}
    rule = "Stay courteous and give the new time; never blame the customer."
    plan = ModelCompiler(SpecGenerator(json.dumps(inverted)), render, judge_by_words)("G8", "G8: Courtesy", rule)
    assert plan.spec.scope == "every_reply" and plan.checks[-1].verdict == "followed" and "opposite" in plan.note


def test_a_prohibition_asked_as_its_conduct_asks_what_the_rule_forbids_when_that_separates():
    """G8 compiled as 'Does this reply stay courteous?' under no_reply: the rule's own prohibition ('never blame
    the customer', 'no sarcasm, no rude language') becomes the question, still of each reply (one is enough),
    because the judge answers it yes for the violating example and no for the compliant one."""
    inverted = {"applies": "always", "trigger": "", "trigger_in": "customer", "scope": "no_reply",
                "question": "Does this reply stay courteous?",
                "example_compliant": "Sorry about that, we will look into it.",
                "example_violating": "That is your own fault, read the manual."}
    rule = "Stay courteous; never blame the customer. Agents stay polite: no sarcasm, no rude language."

    def judge(conv, rule_text, check):
        rude = "fault" in conv.turns[-1].text
        return (0.9 if rude else 0.1) if "blame" in check.statement else (0.3 if rude else 0.8)

    plan = ModelCompiler(SpecGenerator(json.dumps(inverted)), render, judge)("G8", "G8: Courtesy", rule)
    assert plan.spec.scope == "no_reply" and plan.checks[-1].verdict == "violated"
    assert plan.spec.question == "Does this reply blame the customer or include sarcasm or rude language?"
    assert "forbids" in plan.note


@pytest.mark.parametrize("rule, question", [
    ("Stay courteous; never blame the customer. Agents stay polite and professional: no sarcasm, no rude or "
     "dismissive language.", "Does this reply blame the customer or include sarcasm or rude or dismissive language?"),
    ("Agents never ask for passwords, card security codes (CVV) or PINs.",
     "Does this reply ask for passwords, card security codes or PINs?"),
    ("The agent never promises a refund in public.", "Does this reply promise a refund in public?"),
    ("Agents do not discuss compensation in a public reply.", "Does this reply discuss compensation in a public reply?"),
    ("The agent asks for it by DM and never asks for it to be posted in public.", None),  # "it": says too little alone
    ("Card numbers are never requested in any channel.", None),  # a passive names no act of the reply
    ("The agent replies no later than two hours after the message.", None),  # "no" that forbids nothing
    ("A last reply that only asks a question does not close the conversation.", None),  # describes, forbids nothing
    ("Greet the customer by name.", None),
])
def test_stated_prohibition_reads_what_a_rule_forbids(rule, question):
    assert stated_prohibition(rule) == question


@pytest.mark.parametrize("rule", ["When the agent escalates the issue, the agent says when to expect an answer.",
                                  "If the issue remains open, the agent says when to expect an answer."])
def test_a_requirement_asked_under_no_reply_is_turned_round_to_one_reply_not_every(rule):
    """'When the agent escalates, the agent says when to expect an answer' prohibits nothing: the model's no_reply
    with a question about the requirement was a wrong scope, and one reply giving the time is enough."""
    inverted = {"applies": "when", "trigger": "Does this message escalate the issue?", "trigger_in": "agent",
                "scope": "no_reply", "question": "Does this reply give the time of the follow-up?",
                "example_compliant": "Sorry! It now leaves at 6pm.", "example_violating": "Thanks for nothing."}
    plan = ModelCompiler(SpecGenerator(json.dumps(inverted)), render, judge_by_words)("G10", "G10: Follow-up", rule)
    assert plan.spec.scope == "any_reply" and plan.checks[-1].verdict == "followed" and "opposite" in plan.note
