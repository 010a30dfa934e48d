"""Who is the customer and who the agent, when a paste gives names instead of roles.

Evidence, strongest first; the first that applies decides, and its reason is kept for the user to see:

1. the format says so: a label (``Visitor:``, ``Sarah (Support):``, ``Agent Sarah:``) or an API field
   (Zendesk user role, Intercom author type, Freshdesk ``incoming``);
2. the user's list of agent names (``agents=("Sarah",)``: case-insensitive, the full name or the first name);
3. the name itself: "Acme Bot" / "Virtual Assistant" is a bot, "Acme Support" / "Help Desk" / "Customer Care"
   an agent, "Visitor 4821" / "Guest" a customer;
4. the e-mail address: ``noreply@`` is automated (bot), ``support@``/``help@``... an agent, a consumer
   domain (gmail.com, outlook.com...) a customer, and a company domain is the agent's when someone else in
   the thread writes from a consumer domain; a sender sharing a decided sender's company domain shares its role;
5. when an agents list was given and matched someone, everyone else not decided above is a customer;
6. otherwise the first undecided person to write is the customer (the opener of a support conversation),
   unless a customer is already known; the others answer them and are agents.

Pure functions: the same messages and agents list always give the same roles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from assistant.formats.base import Message, Role

CONSUMER_DOMAINS = frozenset(
    "gmail.com googlemail.com yahoo.com yahoo.co.uk yahoo.fr ymail.com hotmail.com hotmail.co.uk hotmail.fr "
    "outlook.com live.com live.co.uk msn.com icloud.com me.com mac.com aol.com proton.me protonmail.com pm.me "
    "gmx.de gmx.net gmx.com web.de t-online.de mail.ru yandex.ru yandex.com zoho.com fastmail.com hey.com "
    "mail.com qq.com 163.com orange.fr free.fr laposte.net libero.it btinternet.com comcast.net verizon.net "
    "att.net sky.com virginmedia.com".split()
)
_SUPPORT_LOCAL = frozenset("support help helpdesk service care customerservice customercare team hello billing "
                           "info sales contact success cs service-desk servicedesk".split())
_AUTOMATED_LOCAL = frozenset("noreply no-reply no_reply donotreply do-not-reply do_not_reply mailer-daemon "
                             "notifications notification automated".split())
_BOT_NAME_RE = re.compile(r"\b(?:bot|chatbot|virtual assistant|automated|auto-?reply|autoresponder)\b", re.IGNORECASE)
_AGENT_NAME_RE = re.compile(r"\b(?:support|help ?desk|customer service|customer care|care team|service desk)\b",
                            re.IGNORECASE)
_CUSTOMER_NAME_RE = re.compile(r"^(?:visitor|guest|customer|client)\b", re.IGNORECASE)
_OTHER_SIDE: dict[Role, Role] = {"customer": "agent", "agent": "customer", "bot": "customer", "system": "customer"}


@dataclass(frozen=True)
class RoleDecision:
    """One speaker's role and the evidence for it."""

    role: Role
    reason: str


def matches_agent(name: str, agents: Iterable[str]) -> bool:
    """Whether ``name`` is one of ``agents``: the same full name, or the same first name (case-insensitive)."""
    low = " ".join(name.lower().split())
    first = low.split()[0] if low else ""
    return any((a := " ".join(x.lower().split())) and (a == low or a == first) for x in agents)


def infer_roles(messages: Iterable[Message], agents: Iterable[str] = ()) -> dict[str, RoleDecision]:
    """The role of every named speaker in ``messages``, with its reason (see the module docstring)."""
    messages = list(messages)
    agents = tuple(a for a in agents if a and a.strip())
    names = list(dict.fromkeys(m.name for m in messages if m.name))
    addresses = {m.name: m.address for m in messages if m.name and m.address}
    decided: dict[str, RoleDecision] = {}
    for name in names:
        explicit = next((m for m in messages if m.name == name and m.role), None)
        decision = (RoleDecision(explicit.role, explicit.reason or "stated by the format") if explicit
                    else RoleDecision("agent", "in your list of agent names") if matches_agent(name, agents)
                    else _from_name(name) or _from_address(addresses.get(name), addresses.values()))
        if decision:
            decided[name] = decision
    listed = any(d.reason == "in your list of agent names" for d in decided.values())
    for name in names:
        if name in decided:
            continue
        decided[name] = (_same_domain(addresses.get(name), addresses, decided)
                         or (RoleDecision("customer", "not in your list of agent names") if listed
                             else _by_order(name, messages, decided)))
    return {n: decided[n] for n in names}


def role_of_unnamed(message: Message, decided: dict[str, RoleDecision]) -> RoleDecision | None:
    """A message without a sender that replies to a known one is from the other side."""
    if message.replies_to and message.replies_to in decided:
        other = decided[message.replies_to].role
        return RoleDecision(_OTHER_SIDE[other], f"replies to {message.replies_to} ({other})")
    return None


def _from_name(name: str) -> RoleDecision | None:
    if "@" in name:
        return None  # an address used as a name: the address rules decide
    if _BOT_NAME_RE.search(name):
        return RoleDecision("bot", f'the name "{name}" is an automated sender')
    if _AGENT_NAME_RE.search(name):
        return RoleDecision("agent", f'the name "{name}" is a support team')
    if _CUSTOMER_NAME_RE.match(name):
        return RoleDecision("customer", f'the name "{name}" is an anonymous visitor')
    return None


def _from_address(address: str | None, everyone: Iterable[str]) -> RoleDecision | None:
    if not address or "@" not in address:
        return None
    local, domain = address.lower().rsplit("@", 1)
    if local in _AUTOMATED_LOCAL:
        return RoleDecision("bot", f"writes from an automated address ({address})")
    if local in _SUPPORT_LOCAL:
        return RoleDecision("agent", f"writes from a support address ({address})")
    if domain in CONSUMER_DOMAINS:
        return RoleDecision("customer", f"writes from a consumer e-mail domain ({domain})")
    consumer = next((a.rsplit("@", 1)[1] for a in everyone if a and a.rsplit("@", 1)[-1].lower() in CONSUMER_DOMAINS), None)
    if consumer:
        return RoleDecision("agent", f"writes from a company domain ({domain}) to a {consumer} address")
    return None


def _same_domain(address: str | None, addresses: dict, decided: dict[str, RoleDecision]) -> RoleDecision | None:
    if not address or "@" not in address:
        return None
    domain = address.lower().rsplit("@", 1)[1]
    for other, decision in decided.items():
        theirs = addresses.get(other)
        if theirs and theirs.lower().rsplit("@", 1)[-1] == domain and domain not in CONSUMER_DOMAINS:
            return RoleDecision(decision.role, f"same company domain as {other} ({domain})")
    return None


def _by_order(name: str, messages: list[Message], decided: dict[str, RoleDecision]) -> RoleDecision:
    customer = next((n for n, d in decided.items() if d.role == "customer"), None)
    if customer is None and any(m.role == "customer" for m in messages):
        customer = "the customer"
    if customer is None:
        opener = next((m for m in messages if m.role not in ("bot", "system")), None)
        if opener is not None and opener.name == name:
            return RoleDecision("customer", "opens the conversation")
        return RoleDecision("customer", "first to write who is not known to be staff")
    return RoleDecision("agent", f"answers {customer}")
