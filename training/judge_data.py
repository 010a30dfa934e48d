"""Training data for the audit judge: real TweetSumm messages, checks in many wordings, labels by construction.

The audit asks its judge one yes/no question at a time about one message (or the whole conversation), as the text
pair ``assistant.encoder_judge.check_pair`` builds. This module builds examples in exactly that form, from the TweetSumm
**train** split only (never validation or test), minus every dialog of a labelled evaluation set
(``eval/audit_dev/**/*.jsonl``), so the judge never sees a conversation it is graded on.

A label is never a model's opinion; it comes from how the example was made (``RuleType.kind``):

- ``exact``: a deterministic test of the message as written (the detectors of ``assistant.detectors``: a signature
  mark, a link, a phone number, an e-mail address, a DM offer, a question mark), on the real message or on one
  minimally edited to add or remove the form;
- ``lexicon``: the real message holds a phrase of the rule's lexicon (an apology, a greeting, an offer of more help,
  a refund request) or holds none of it; edits insert a phrase, or strip every sentence that holds one (a stripped
  message is kept only if the lexicon no longer finds anything in it);
- ``insert``: the violation never occurs in real replies (checked with a lexicon: a reply that matches it is not
  used); a sentence that commits it (asking for a password, a public refund promise, a rude remark, a follow-up
  promise without a timeframe) is inserted into a real reply, which stays the negative;
- ``swap``: a real reply to the customer's message against a reply taken from another conversation.

Most real verdicts are "not applicable", which the audit decides by a trigger question ("Does this message ask
for a refund?"): trigger questions about customer and agent messages are rule types of their own, so the judge
learns to answer "no" when the situation is absent. Questions come in several wordings, so the judge has to read
the question rather than the rule's id. Training and validation ask only whether the rule type's property is present
(``positive``); the judge answers property questions and the plan says what a yes means. The reversed wordings ("Is
this reply free of links?") form their own split, ``reversed``, which measures how the judge takes them (the audit
drops a negated check where its positive twin exists: ``assistant.judge.informative_checks``).

``HELD_BACK`` rule types never enter training: the held-back slice measures whether the judge reads a rule it has
never seen (a generalisation probe on constructed data, never a quality figure: those come from human labels only).

    python -m training.judge_data --out runs/judge-data   # writes train/valid/held_back/reversed jsonl + data card
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

from assistant.conversation import Conversation, Turn
from assistant.detectors import (
    URL, asks_question, has_email, has_link, has_phone, has_signature, names_private_channel, strip_tail,
)
from assistant.encoder_judge import check_pair

REPO_ROOT = Path(__file__).resolve().parent.parent
LABELLED_SETS = REPO_ROOT / "eval" / "audit_dev"

Edit = Callable[[str, random.Random], "str | None"]


@dataclass(frozen=True)
class RuleType:
    """One kind of check: its rule wordings, its question wordings and how its label is made."""

    name: str
    category: str
    speaker: str  # agent | customer | conversation
    kind: str  # exact | lexicon | insert | swap (see the module docstring)
    guidelines: tuple[str, ...]
    questions: tuple[tuple[str, bool], ...]  # (question, polarity): True asks "is the property there?"
    present: Callable[[str], bool] | None = None  # the property, on one message as written
    add: Edit | None = None  # a minimal edit that creates the property (None when it cannot be made)
    remove: Edit | None = None  # a minimal edit that removes it
    guarantee: str = ""  # how the label is guaranteed, for the data card


@dataclass(frozen=True)
class JudgeExample:
    """One check, its label and where it came from; ``first`` and ``second`` are the text pair the judge reads."""

    conversation_id: str
    rule_type: str
    category: str
    turn: int | None
    guideline: str
    question: str
    label: str  # yes | no
    how: str  # original | added | removed | inserted | swapped
    message: str  # the message asked about, as shown (edited or not); "" for a question about the conversation
    first: str
    second: str

    def to_dict(self) -> dict:
        """JSON-serialisable form (one line of a written split)."""
        return asdict(self)


# --- editing one message ---------------------------------------------------------------------------------------

_HANDLES = re.compile(r"^(?:@\w+\s*)+")
_SENTENCES = re.compile(r"(?<=[.!?])\s+")


def _split_handles(text: str) -> tuple[str, str]:
    m = _HANDLES.match(text)
    return (m.group(0), text[m.end():]) if m else ("", text)


def insert_sentence(sentence: str, text: str, rng: random.Random, where: str = "any") -> str:
    """``text`` with ``sentence`` added after its @handles (``start``) or before its signature (``end``)."""
    handles, body = _split_handles(text)
    if where == "any":
        where = rng.choice(("start", "end"))
    if where == "start" or has_signature(body):
        return f"{handles}{sentence} {body}".strip()
    return f"{handles}{body.rstrip()} {sentence}".strip()


def strip_sentences(pattern: re.Pattern, text: str) -> str | None:
    """``text`` without every sentence ``pattern`` finds; None when nothing would be left or the pattern still
    finds something (the edit must remove the property for sure)."""
    handles, body = _split_handles(text)
    kept = [s for s in _SENTENCES.split(body) if not pattern.search(s)]
    out = " ".join(kept).strip()
    if len(out) < 12 or pattern.search(out):
        return None
    return f"{handles}{out}"


def _lexicon(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.I)


def _adder(*sentences: str, where: str = "any") -> Edit:
    return lambda text, rng: insert_sentence(rng.choice(sentences), text, rng, where)


def _stripper(pattern: re.Pattern) -> Edit:
    return lambda text, rng: strip_sentences(pattern, text)


# --- lexicons ----------------------------------------------------------------------------------------------------

APOLOGY = _lexicon(r"\b(?:sorry|apolog\w*|regret\w*|frustrat\w*|inconvenien\w*|unfortunate\w*|understand (?:how|that|your|the)|"
                   r"hate to hear|sad to hear|not (?:the experience|what we|good|great|ideal)|disappoint\w*|"
                   r"we understand|feel your pain|my bad|oh no|yikes|upsetting)\b")
GREETING = _lexicon(r"^\W*(?:hi|hello|hey|hiya|howdy|greetings|good (?:morning|afternoon|evening|day))\b")
MORE_HELP = _lexicon(r"\b(?:anything else|further (?:help|assistance|questions?)|let us know if|let me know if|"
                     r"here (?:to help|if you need|for you)|feel free to|don't hesitate|do not hesitate|"
                     r"reach (?:back )?out (?:to us )?(?:again|anytime|any time)|happy to help)\b")
THANKS = _lexicon(r"\b(?:thank\w*|thanks|thx|ty|appreciate\w*|grateful)\b")
CREDENTIALS = _lexicon(r"\b(?:password|passcode|PIN|card number|security code|CVV|CVC|social security|SSN|"
                       r"login details|one-time code)\b")
COMPENSATION = _lexicon(r"\b(?:refund\w*|credit\w*|compensat\w*|voucher\w*|reimburs\w*|money back|gift card|"
                        r"discount\w*|free of charge|on us|waive\w*)\b")
FOLLOW_UP = _lexicon(r"\b(?:we'll|we will|I'll|I will|we're going to|someone will|the team will)\s+(?:\w+\s+)?"
                     r"(?:get back|follow up|update you|reach out|be in touch|contact you|let you know|circle back)\b")
TIMEFRAME = _lexicon(r"\b(?:within|in the next|by (?:monday|tuesday|wednesday|thursday|friday|tomorrow|tonight|end of)|"
                     r"\d+\s*(?:hours?|hrs?|days?|minutes?|mins?|business days?)|today|tomorrow|this week|"
                     r"24/7)\b")
REDIRECT = _lexicon(r"\b(?:contact|reach out to|get in touch with|call|speak (?:to|with)|visit|ask)\s+(?:our|the|your)\s+"
                    r"(?:\w+\s+)?(?:team|department|store|desk|support|specialists?|bank|provider|carrier|branch)\b")
RUDE = _lexicon(r"\b(?:your own fault|not our problem|should have read|obviously|calm down|stop complaining|"
                r"nothing we can do for people|we don't care|deal with it|as we already told you|read the manual)\b")
ASKS_INFO = _lexicon(r"\b(?:your|the)\s+(?:\w+\s+)?(?:order|account|e-?mail|number|zip|postcode|post code|location|"
                     r"address|device|model|version|name|details|reservation|booking|confirmation|flight|"
                     r"tracking|screenshot|city|country|browser|phone)\b")
REFUND_REQUEST = _lexicon(r"\b(?:refund\w*|money back|reimburs\w*|compensat\w*|charge\w* back|chargeback|"
                          r"store credit|credit(?:ed)? (?:me|back|my account|to my account))\b")
DELAY = _lexicon(r"\b(?:late|delay\w*|waiting|waited|still (?:not|no|hasn't|haven't|hasnt|havent|waiting)|yet to|"
                 r"for (?:over |more than |almost )?(?:\d+|a few|two|three|four|five|several|many) "
                 r"(?:hours|days|weeks)|since (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
                 r"yesterday|last))\b")  # never a bare "2 days ago"
EMOJI = re.compile(r"[\u2600-\u27bf\U0001F000-\U0001FAFF]")
ESCALATION = _lexicon(r"\b(?:escalat\w*|specialist\w*|senior|supervisor|manager|higher level|next level|"
                      r"passed (?:this|it|your \w+) (?:on|along)|forward\w* (?:this|it|your))\b")
ORDER_NUMBER = re.compile(r"(?:#\s?\d{4,}|(?<![@\w])\d{6,}\b|\b[A-Z]{2,3}\d{5,}\b)")  # never an @123456 handle
SIGNATURE_TAIL = re.compile(r"\s*(?:[\^*~/]\s*[A-Z][A-Za-z]{0,14}|[-\u2013\u2014]\s*[A-Z][A-Za-z]{0,14})\s*$")


def _sign(text: str, rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPRSTVW"
    mark = rng.choice(("^", "^", "-", "*", "/"))
    name = "".join(rng.sample(letters, 2)) if mark != "-" else rng.choice(("Sam", "Ana", "Leo", "Mia", "Raj", "Kim"))
    return f"{text.rstrip()} {mark}{name}"


def _unsign(text: str, rng: random.Random) -> str | None:
    out = SIGNATURE_TAIL.sub("", strip_tail(text)).rstrip()
    return out if out and not has_signature(out) and len(out) >= 12 else None


def _strip_pattern(pattern: re.Pattern) -> Edit:
    def edit(text: str, rng: random.Random) -> str | None:
        out = " ".join(pattern.sub(" ", text).split())
        return out if len(out) >= 12 and not pattern.search(out) else None
    return edit


def _strip_greeting(text: str, rng: random.Random) -> str | None:
    handles, body = _split_handles(text)
    out = re.sub(r"^\W*(?:hi|hello|hey|hiya|howdy|greetings|good (?:morning|afternoon|evening|day))\b"
                 r"(?:\s+(?:there|again|[A-Z][a-z]+))?[\s,!.:-]*", "", body, flags=re.I)
    if len(out) < 12 or GREETING.search(out):
        return None
    return f"{handles}{out[0].upper()}{out[1:]}"


def _greets(text: str) -> bool:
    """Whether the message opens with a greeting after its @handles (a tweet reply always starts with them)."""
    return bool(GREETING.search(_split_handles(text)[1]))


def _no_question(text: str, rng: random.Random) -> str | None:
    handles, body = _split_handles(text)
    kept = [s for s in _SENTENCES.split(body) if "?" not in s]
    out = " ".join(kept).strip()
    return f"{handles}{out}" if len(out) >= 12 else None


# --- rule types --------------------------------------------------------------------------------------------------

def _q(*pairs: tuple[str, bool]) -> tuple[tuple[str, bool], ...]:
    return tuple(pairs)


RULE_TYPES: tuple[RuleType, ...] = (
    RuleType("signature", "signature", "agent", "exact",
             ("Every reply is signed with the agent's initials (for example ^JK) so customers know who they talk to.",
              "Agents sign each public reply with their initials or first name.",
              "Our replies carry a personal sign-off: end every message with your initials."),
             _q(("Does this reply end with the agent's initials or name?", True),
                ("Is this reply signed by the agent?", True),
                ("Does this reply carry a signature?", True),
                ("Is this reply missing the agent's signature?", False)),
             has_signature, lambda t, r: _sign(t, r), _unsign,
             "assistant.detectors.has_signature on the message as written; edits append ^XY / -Name or cut the tail"),
    RuleType("link", "next step", "agent", "exact",
             ("Point customers to the help centre article that answers their question, with its link.",
              "Do not post links in public replies; send them in private messages.",
              "When a self-service page exists, share the link."),
             _q(("Does this reply include a link?", True), ("Does this reply point to a web page with a URL?", True),
                ("Is this reply free of links?", False)),
             has_link, _adder("You can find the steps here: https://help.example.com/article/123",
                              "More details: https://support.example.com/kb/refunds", "See https://bit.ly/3xYzAb for help."),
             _strip_pattern(URL), "a URL pattern on the message; edits add a URL or delete every URL"),
    RuleType("phone", "next step", "agent", "exact",
             ("When a customer needs to call us, give them the phone number.",
              "Never post phone numbers publicly; share them by DM."),
             _q(("Does this reply give a phone number?", True), ("Does this reply contain a telephone number?", True),
                ("Is this reply free of any phone number?", False)),
             has_phone, _adder("You can call us on 1-800-555-0134.", "Please ring 0800 123 4567 and we'll sort it.",
                               "Give us a call at (415) 555-0199."), _strip_pattern(re.compile(r"\d[\d\s().-]{6,}\d")),
             "a phone-number pattern; edits add a number or delete every run of digits that could be one"),
    RuleType("email", "privacy", "agent", "exact",
             ("If a customer needs to write to us, give the support e-mail address.",
              "Do not ask customers to post their e-mail address publicly."),
             _q(("Does this reply contain an e-mail address?", True), ("Is there an email address in this reply?", True)),
             has_email, _adder("Email us at help@example.com.", "Write to care@brand.co.uk with the details."),
             _strip_pattern(re.compile(r"\S+@\S+")), "an e-mail pattern; edits add an address or delete every @-word"),
    RuleType("private_channel", "privacy", "agent", "exact",
             ("Move conversations about accounts and orders to a private channel (DM) before asking for details.",
              "Invite the customer to continue by direct message when personal data is needed."),
             _q(("Does this reply ask the customer to continue in a DM or private message?", True),
                ("Does this reply move the conversation to a private channel?", True),
                ("Does this reply keep everything in public without offering a private channel?", False)),
             names_private_channel, _adder("Please send us a DM with your details.", "Could you DM us so we can look into it?",
                                           "Let's continue in a private message."),
             _stripper(re.compile(r"\b(?:DMs?|direct|private|message us|e-?mail us|call us|chat|PM)\b", re.I)),
             "assistant.detectors.names_private_channel; edits add a DM invitation or strip its sentences"),
    RuleType("apology", "empathy", "agent", "lexicon",
             ("When a customer reports a problem, apologise or show empathy before anything else.",
              "Acknowledge the customer's frustration with an apology.",
              "Agents express empathy for the inconvenience caused."),
             _q(("Does this reply apologise or show empathy?", True), ("Does the agent say sorry in this reply?", True),
                ("Does this reply acknowledge the customer's frustration?", True),
                ("Is this reply without any apology or empathy?", False)),
             APOLOGY.search, _adder("Sorry for the trouble.", "We apologise for the inconvenience.",
                                    "We're sorry to hear about this.", "I understand how frustrating that is.", where="start"),
             _stripper(APOLOGY), "an apology/empathy lexicon; edits insert an apology or strip every sentence with one"),
    RuleType("greeting", "greeting", "agent", "lexicon",
             ("Greet the customer at the start of the first reply.", "Open every conversation with a friendly hello."),
             _q(("Does this reply start with a greeting?", True), ("Does this reply greet the customer?", True),
                ("Does this reply skip the greeting?", False)),
             _greets, _adder("Hi there!", "Hello!", "Hey, thanks for reaching out.", where="start"),
             _strip_greeting, "a greeting at the start of the message (after @handles); edits add or cut it"),
    RuleType("more_help", "closing", "agent", "lexicon",
             ("Close the conversation by offering further help.",
              "The last reply should invite the customer to come back if they need anything else."),
             _q(("Does this reply offer further help?", True), ("Does this reply invite the customer to reach out again?", True),
                ("Does this reply end without offering more help?", False)),
             MORE_HELP.search, _adder("Let us know if there's anything else we can help with.",
                                      "Feel free to reach out again anytime.", "We're here if you need anything else.",
                                      where="end"),
             _stripper(MORE_HELP), "an offer-of-help lexicon; edits add an offer or strip its sentences"),
    RuleType("credentials", "credentials", "agent", "insert",
             ("Never ask customers for passwords, PINs or full card numbers.",
              "Agents must not request login credentials or payment card details in any channel."),
             _q(("Does this reply ask for a password, PIN or card number?", True),
                ("Does the agent request login credentials or payment card details here?", True),
                ("Does this reply avoid asking for passwords or card details?", False)),
             CREDENTIALS.search, _adder("Please reply with your account password so we can check.",
                                        "Can you send us the full card number and the security code?",
                                        "What's the PIN on your account? We'll verify it for you.",
                                        "Tell us your login details and we'll sign in for you."), None,
             "replies matching a credentials lexicon are never used; a request sentence is inserted for yes"),
    RuleType("public_compensation", "compensation", "agent", "insert",
             ("Do not promise refunds, credits or compensation in public replies.",
              "Compensation is decided by the claims team; agents never offer it publicly."),
             _q(("Does this reply promise a refund, credit or compensation?", True),
                ("Does the agent offer money back or a credit in this reply?", True),
                ("Is this reply free of any promise of compensation?", False)),
             COMPENSATION.search, _adder("We'll refund the full amount to your card today.",
                                         "We've added a $50 credit to your account for the trouble.",
                                         "You'll get a voucher to make up for this.",
                                         "We will compensate you for the delay."), None,
             "replies matching a compensation lexicon are never used; a promise is inserted for yes"),
    RuleType("follow_up_promise", "timeframes", "agent", "insert",
             ("When you promise to follow up, say when.", "Follow-up promises must come with a timeframe."),
             _q(("Does this reply promise to get back to the customer later?", True),
                ("Does the agent promise a follow-up in this reply?", True)),
             FOLLOW_UP.search, _adder("We'll get back to you once we hear from the team.",
                                      "I'll follow up with an update.", "We will be in touch soon."), None,
             "a trigger: replies with a follow-up lexicon match are never used as no; a promise is inserted for yes"),
    RuleType("timeframe", "timeframes", "agent", "insert",
             ("When you promise to follow up, say when.", "Every promise of an update must include a timeframe."),
             _q(("Does this reply give a timeframe for the follow-up it promises?", True),
                ("Does the agent say when they will get back to the customer?", True),
                ("Is the follow-up promised in this reply vague about when it will happen?", False)),
             TIMEFRAME.search, None, None,
             "both sides inserted into a reply without any timeframe word: a promise with a timeframe (yes) or without"),
    RuleType("redirect_route", "escalation", "agent", "insert",
             ("When you send a customer to another team, tell them how to reach it (link, phone or address).",
              "Redirects must include the route: never just say 'contact the other team'."),
             _q(("Does this reply say how to reach the team it sends the customer to?", True),
                ("Does the redirect in this reply include a phone number, link or address?", True),
                ("Does this reply send the customer elsewhere without saying how to get there?", False)),
             REDIRECT.search, None, None,
             "both sides inserted into a reply without a redirect: one with a phone/link/address (yes), one without"),
    RuleType("courtesy", "courtesy", "agent", "insert",
             ("Stay polite: never blame or belittle the customer.", "Be courteous and respectful in every reply."),
             _q(("Is this reply polite and respectful to the customer?", True),
                ("Does this reply blame or belittle the customer?", False),
                ("Is the tone of this reply rude?", False)),
             lambda t: not RUDE.search(t), None, None,
             "real replies (none matches a rudeness lexicon) are polite; inserting a rude remark makes the no"),
    RuleType("asks_info", "next step", "agent", "insert",
             ("Ask for the order number or account details needed to investigate.",
              "Before troubleshooting, ask the customer for the details you need."),
             _q(("Does this reply ask the customer for details such as an order or account number?", True),
                ("Does the agent request information from the customer in this reply?", True)),
             lambda t: "?" in t and bool(ASKS_INFO.search(t)), None, None,
             "yes: a request for details inserted into a reply without any '?'; no: real replies without any '?' or "
             "request verb"),
    RuleType("answers_customer", "answering", "agent", "swap",
             ("Answer what the customer actually asked.", "Each reply must respond to the customer's last message."),
             _q(("Does this reply respond to what the customer wrote just before it?", True),
                ("Is this reply about the customer's last message?", True),
                ("Is this reply unrelated to what the customer just said?", False)),
             None, None, None,
             "yes: the real reply that followed the customer's message; no: an agent reply from another conversation"),
    RuleType("customer_refund", "compensation", "customer", "lexicon",
             ("When a customer asks for a refund, explain the refund policy and route them to the claims form.",
              "Refund requests go to the billing team."),
             _q(("Does this message ask for a refund or money back?", True),
                ("Is the customer asking for compensation in this message?", True),
                ("Is this message free of any refund request?", False)),
             REFUND_REQUEST.search, _adder("I want a refund for this.", "Can I get my money back?",
                                           "I expect to be compensated."), _stripper(REFUND_REQUEST),
             "a refund-request lexicon on the customer's message; edits insert a request or strip its sentences"),
    RuleType("customer_question", "answering", "customer", "exact",
             ("When the customer asks a question, the next reply answers it.",),
             _q(("Does this message ask a question?", True), ("Is the customer asking something in this message?", True)),
             asks_question, _adder("Can you help me with this?", "What should I do now?", "Is this a known issue?"),
             _no_question, "a question mark in the message; edits add a question or drop every sentence with '?'"),
    RuleType("customer_order_number", "privacy", "customer", "exact",
             ("If a customer posts an order or account number publicly, ask them to continue by DM.",),
             _q(("Does this message contain an order, booking or account number?", True),
                ("Has the customer posted a reference number in this message?", True)),
             ORDER_NUMBER.search, _adder("My order number is 48293017.", "Booking ref #558201.",
                                         "Account no. 90817263."), _strip_pattern(ORDER_NUMBER),
             "a pattern for long numbers and references; edits add one or delete every match"),
    RuleType("conversation_dm", "privacy", "conversation", "exact",
             ("Account-specific issues are moved to a private channel during the conversation.",),
             _q(("Does the agent at any point invite the customer to a private channel such as DM?", True),
                ("Does the whole conversation stay public, with no offer of a DM or private message?", False)),
             names_private_channel, None, None,
             "names_private_channel over every agent reply of the real conversation"),
    RuleType("conversation_refund", "compensation", "conversation", "lexicon",
             ("If a customer asks for a refund, follow the refund procedure.",),
             _q(("Does the customer ask for a refund or compensation anywhere in the conversation?", True),
                ("Is a refund requested at any point by the customer?", True)),
             REFUND_REQUEST.search, None, None, "the refund-request lexicon over every customer message"),
    # held back (never in training): does the judge read a rule it has never seen?
    RuleType("agent_thanks", "courtesy", "agent", "lexicon",
             ("Thank the customer for their patience or for reaching out.",),
             _q(("Does this reply thank the customer?", True), ("Does the agent express gratitude here?", True)),
             THANKS.search, _adder("Thanks for reaching out!", "Thank you for your patience.", where="start"),
             _stripper(THANKS), "a thanks lexicon; edits insert thanks or strip its sentences"),
    RuleType("emoji", "courtesy", "agent", "exact",
             ("Keep a professional tone: no emoji in replies.",),
             _q(("Does this reply contain an emoji?", True), ("Is this reply free of emoji?", False)),
             EMOJI.search, lambda t, r: insert_sentence(r.choice(("\U0001F60A", "\U0001F44D", "\U0001F64F")), t, r, "end"),
             _strip_pattern(EMOJI), "an emoji code-point range; edits add one or delete every emoji"),
    RuleType("escalation", "escalation", "agent", "insert",
             ("When the agent cannot solve the issue, escalate it to a specialist team and say so.",),
             _q(("Does this reply say the issue has been escalated to a specialist or senior team?", True),
                ("Does the agent hand the case over to a higher level of support here?", True)),
             ESCALATION.search, _adder("I've escalated this to our specialist team.",
                                       "I've passed this on to a senior advisor who will take over."), None,
             "replies matching an escalation lexicon are never used; an escalation sentence is inserted for yes"),
    RuleType("customer_delay", "timeframes", "customer", "lexicon",
             ("When a customer complains about a delay, acknowledge the wait and give an expected date.",),
             _q(("Does this message complain about a delay or a long wait?", True),
                ("Is the customer saying they have been waiting?", True)),
             DELAY.search, _adder("I've been waiting for over a week now.", "This is three days late."),
             _stripper(DELAY), "a delay lexicon on the customer's message; edits insert a complaint or strip its sentences"),
)
HELD_BACK = ("agent_thanks", "emoji", "escalation", "customer_delay")
_BY_NAME = {r.name: r for r in RULE_TYPES}

_REQUEST = _lexicon(r"\b(?:send|share|provide|confirm|tell us|let us know|dm|what|which|when|where|could you|can you|"
                    r"include|reply with|follow up with|need|please)\b")
_PROMISES_WITH = ("We'll get back to you within 24 hours.", "I'll update you by tomorrow morning.",
                  "We'll follow up in the next 2 business days.", "The team will contact you by Friday.")
_PROMISES_WITHOUT = ("We'll get back to you as soon as we can.", "I'll update you once I hear more.",
                     "We'll follow up with you.", "The team will contact you.")
_ROUTE_WITH = ("Please contact our billing team at 1-800-555-0199.", "Reach out to our returns team via https://example.com/returns.",
               "Please get in touch with our warranty team at warranty@example.com.")
_ROUTE_WITHOUT = ("Please contact our billing team directly.", "You'll need to reach out to our returns team.",
                  "Please get in touch with the warranty department.")
_RUDE = ("That's your own fault for not reading the instructions.", "Honestly, this is not our problem.",
         "You should have read the terms before buying.", "Calm down, it's obviously working on our side.")
_ASK_INFO = ("Could you share your order number so we can check?", "Can you tell us the email address on your account?",
             "What's the model of your device and the app version?")


# --- building examples -------------------------------------------------------------------------------------------

def labelled_ids(root: Path = LABELLED_SETS) -> set[str]:
    """Every conversation id of a labelled evaluation set (never trained on)."""
    ids = set()
    for path in root.rglob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                ids.add(json.loads(line)["conversation_id"])
    return ids


def with_turn(conv: Conversation, turn: int, text: str) -> Conversation:
    """``conv`` with the text of message ``turn`` replaced by ``text``."""
    turns = list(conv.turns)
    turns[turn] = Turn(turns[turn].speaker, text)
    return replace(conv, turns=tuple(turns))


def message_variant(rule: RuleType, text: str, want: bool, rng: random.Random,
                    donor: str | None = None) -> tuple[str, str] | None:
    """(message text, how it was made) whose property is ``want`` for ``rule``, from the real ``text``; None when
    this message cannot give one. ``donor``: another conversation's agent reply (``swap`` rules)."""
    name = rule.name
    if rule.kind == "swap":
        return (text, "original") if want else ((donor, "swapped") if donor else None)
    if name == "timeframe":
        if FOLLOW_UP.search(text) or TIMEFRAME.search(text):
            return None
        return insert_sentence(rng.choice(_PROMISES_WITH if want else _PROMISES_WITHOUT), text, rng, "end"), "inserted"
    if name == "redirect_route":
        if REDIRECT.search(text) or has_phone(text) or has_link(text) or has_email(text):
            return None
        return insert_sentence(rng.choice(_ROUTE_WITH if want else _ROUTE_WITHOUT), text, rng, "end"), "inserted"
    if name == "courtesy":
        if RUDE.search(text):
            return None
        return (text, "original") if want else (insert_sentence(rng.choice(_RUDE), text, rng), "inserted")
    if name == "asks_info":
        if "?" in text or _REQUEST.search(text):
            return None
        return (insert_sentence(rng.choice(_ASK_INFO), text, rng, "end"), "inserted") if want else (text, "original")
    has = bool(rule.present(text))
    if rule.kind == "insert":  # the property never occurs for real: the real message is the no
        if has:
            return None
        return (rule.add(text, rng), "inserted") if want else (text, "original")
    if has == want:
        return text, "original"
    edit = rule.add if want else rule.remove
    edited = edit(text, rng) if edit else None
    if edited is None or bool(rule.present(edited)) != want:
        return None
    return edited, "added" if want else "removed"


def conversation_label(rule: RuleType, conv: Conversation) -> bool:
    """Whether the property of a conversation-level rule holds anywhere in ``conv``."""
    speaker = "agent" if rule.name == "conversation_dm" else "customer"
    return any(rule.present(t.text) for t in conv.turns if t.speaker == speaker)


def questions(rule: RuleType, wording: str = "positive") -> tuple[tuple[str, bool], ...]:
    """``rule``'s question wordings that ask whether its property is present (``positive``) or absent (``reversed``)."""
    return tuple(q for q in rule.questions if q[1] == (wording == "positive"))


def make_example(rule: RuleType, conv: Conversation, want: bool, rng: random.Random, donors: Sequence[str] = (),
                 wording: str = "positive") -> JudgeExample | None:
    """One example of ``rule`` on ``conv`` whose answer is ``want`` (after the question's polarity), or None."""
    question, polarity = rng.choice(questions(rule, wording))
    guideline = rng.choice(rule.guidelines)
    prop = want if polarity else not want  # the property the message must (not) have for the answer to be ``want``
    if rule.speaker == "conversation":
        if conversation_label(rule, conv) != prop:
            return None
        turn, shown, how, text = None, conv, "original", ""
    else:
        turns = [i for i, t in enumerate(conv.turns) if t.speaker == rule.speaker]
        if rule.kind == "swap":
            turns = [i for i in turns if i > 0 and conv.turns[i - 1].speaker == "customer"]
        if not turns:
            return None
        turn = rng.choice(turns)
        variant = message_variant(rule, conv.turns[turn].text, prop, rng, rng.choice(donors) if donors else None)
        if variant is None:
            return None
        text, how = variant
        shown = with_turn(conv, turn, text)
    first, second = check_pair(shown, guideline, question, turn)
    return JudgeExample(conv.conversation_id or "", rule.name, rule.category, turn, guideline, question,
                        "yes" if want else "no", how, text, first, second)


def build_examples(convs: Sequence[Conversation], rules: Iterable[RuleType], n: int, seed: int = 0,
                   wording: str = "positive") -> list[JudgeExample]:
    """``n`` examples, rule types in turn, answers alternating yes / no (balanced), conversations drawn at random."""
    rng = random.Random(seed)
    rules = [r for r in rules if questions(r, wording)]
    donors = [t.text for c in convs for t in c.turns if t.speaker == "agent"]
    out: list[JudgeExample] = []
    for i in range(n):
        rule, want = rules[i % len(rules)], (i // len(rules)) % 2 == 0
        for _ in range(200):
            conv = rng.choice(convs)
            donor_pool = [d for d in rng.sample(donors, min(3, len(donors))) if d not in {t.text for t in conv.turns}]
            ex = make_example(rule, conv, want, rng, donor_pool, wording)
            if ex is not None:
                out.append(ex)
                break
    rng.shuffle(out)
    return out


def split_dialogs(convs: Sequence[Conversation], valid_share: float = 0.1, seed: int = 0
                  ) -> tuple[list[Conversation], list[Conversation]]:
    """Train split dialogs minus the labelled sets', cut into (training, validation) dialogs with ``seed``."""
    excluded = labelled_ids()
    usable = [c for c in convs if c.conversation_id not in excluded]
    rng = random.Random(seed)
    order = list(usable)
    rng.shuffle(order)
    cut = int(len(order) * valid_share)
    return order[cut:], order[:cut]


def build_splits(convs: Sequence[Conversation], n_train: int, n_valid: int, n_held_back: int = 0, seed: int = 0,
                 n_reversed: int = 0) -> dict[str, list[JudgeExample]]:
    """train / valid examples of the trained rule types on disjoint dialogs; held_back: the held-back types;
    reversed: the trained types asked in their reversed wordings (on the validation dialogs)."""
    train_convs, valid_convs = split_dialogs(convs, seed=seed)
    trained = [r for r in RULE_TYPES if r.name not in HELD_BACK]
    held = [r for r in RULE_TYPES if r.name in HELD_BACK]
    return {"train": build_examples(train_convs, trained, n_train, seed),
            "valid": build_examples(valid_convs, trained, n_valid, seed + 1),
            "held_back": build_examples(valid_convs, held, n_held_back, seed + 2),
            "reversed": build_examples(valid_convs, trained, n_reversed, seed + 3, "reversed")}


def data_card(splits: dict[str, list[JudgeExample]], seed: int) -> str:
    """The data card: what each rule type checks, how its labels are guaranteed, and the counts."""
    lines = ["# Audit judge training data (labels by construction)", "",
             f"Built by `python -m training.judge_data` (seed {seed}) from TweetSumm **train** dialogs, minus every "
             "dialog of a labelled evaluation set (`eval/audit_dev`). Validation and held-back examples come from "
             "dialogs never used for training. Generated data trains and selects checkpoints; it never grades "
             "(quality is measured on human labels by `eval.audit`).", "",
             "How a label is guaranteed (the `label made by` column says which, per rule type):", "",
             "- **exact**: a deterministic test of the message as written (the audit's own detectors: signature mark, "
             "link, phone number, e-mail address, DM offer, question mark), on the real message or on one minimally "
             "edited to add or remove the form; an edit is kept only if the test then gives the wanted answer.",
             "- **lexicon**: the real message holds a phrase of the rule's lexicon (apology, greeting, offer of more "
             "help, refund request, ...) or none of it; edits insert a phrase, or strip every sentence holding one "
             "(kept only if the lexicon then finds nothing).",
             "- **insert**: the violation never occurs in real replies (replies matching its lexicon are never used); "
             "a sentence committing it is inserted for the positive, the real reply is the negative; timeframe and "
             "redirect rules insert both sides (with and without the timeframe or route).",
             "- **swap**: the real reply to the customer's message (yes) against an agent reply from another "
             "conversation (no).",
             "- Questions come in several wordings; training and validation ask whether the rule type's property is "
             "present (the plan says what a yes means), the `reversed` split asks whether it is absent (\"Is this "
             "reply free of links?\"), to measure how the judge takes such wordings. Answers are balanced yes / no "
             "per rule type.", "",
             "| rule type | category | about | label made by | split | yes | no | edited |", "|---|---|---|---|---|---|---|---|"]
    for rule in RULE_TYPES:
        for split, examples in splits.items():
            mine = [e for e in examples if e.rule_type == rule.name]
            if mine:
                c = Counter(e.label for e in mine)
                edited = sum(e.how != "original" for e in mine)
                lines.append(f"| {rule.name} | {rule.category} | {rule.speaker} | {rule.guarantee} | {split} | "
                             f"{c['yes']} | {c['no']} | {edited} |")
    lines += ["", f"Held back (never trained): {', '.join(HELD_BACK)}.", ""]
    return "\n".join(lines)


def write_splits(splits: dict[str, list], out: Path, card: str) -> None:
    """Each split as jsonl (its examples' ``to_dict``), and the data card ``card``, under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for split, examples in splits.items():
        with open(out / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for e in examples:
                f.write(json.dumps(e.to_dict(), ensure_ascii=False) + "\n")
    (out / "DATA_CARD.md").write_text(card, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """``python -m training.judge_data --out DIR [--train N --valid N --held-back N --reversed N --seed S]``."""
    parser = argparse.ArgumentParser(description="Build the audit judge's training data (labels by construction).")
    parser.add_argument("--out", default="runs/judge-data")
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--valid", type=int, default=400)
    parser.add_argument("--held-back", type=int, default=400)
    parser.add_argument("--seed", type=int, default=42, help="the trainer's seed (TrainConfig.seed) gives its data")
    parser.add_argument("--reversed", type=int, default=400, help="examples asked in reversed wordings")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    from training.tweetsumm import load_split

    splits = build_splits(load_split("train", args.data_dir), args.train, args.valid, args.held_back, args.seed,
                          args.reversed)
    write_splits(splits, Path(args.out), data_card(splits, args.seed))
    print(f"wrote {', '.join(f'{k} {len(v)}' for k, v in splits.items())} examples and DATA_CARD.md to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
