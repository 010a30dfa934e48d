"""Exact detectors for checks about form: small pure functions of one message's text.

A 1.5B judge cannot see a ``^JK`` signature (AUC 0.53 on the sample playbook's signature rule), but a pattern can.
A compiled check whose question is about one of these forms (``detector_for``) is answered by its detector, with
P(yes) 1.0 or 0.0; the model judges meaning. Each detector answers its question for one message, as written
(the audit reads raw text: signatures, links and handles included).
"""

from __future__ import annotations

import re
from typing import Callable

URL = re.compile(r"\b(?:https?://|www\.)\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|co|io|ly|gl|me|uk)/\S*", re.I)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
PHONE = re.compile(r"(?<![\w/])(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]?\d{3,4}(?![\w/])"
                   r"|\b1-?8\d\d-?[A-Z0-9]{3}-?[A-Z0-9]{4}\b")
_THREAD_TAIL = re.compile(r"(?:\s*(?:\(?\d{1,2}/\d{1,2}\)?|\(cont\.?\)|\(\d\)|[\u2600-\u27bf\U0001F000-\U0001FAFF\uFE0F]+|"
                          r"https?://\S+|[.!])\s*)+$", re.I)
# ^JK, ^cd, /JI, *HFG, ~AR, -Sam, - Sam, Thanks-Sha (a mark, then initials or a capitalised first name, closing the
# reply; after a caret, which marks nothing else, lower-case initials too, and capitals glued to the text, "bug^SV";
# not "2^n" or "e^x")
_MARKED = re.compile(r"(?:(?<![\w^])\^\s*[A-Za-z]{1,15}|(?<=\w)\^[A-Z][A-Za-z]{0,14}|[*~]\s*[A-Z][A-Za-z]{0,14}|"
                     r"(?:^|[\s.!?,;:)a-z])[-/\u2013\u2014]\s*[A-Z][A-Za-z]{0,14})$")
# "Thanks, Leah", "Regards - Isaac", "Kind regards, Vicky", "Cheers Tom"
_SIGN_OFF = re.compile(r"\b(?:thanks|thank you|regards|rgds|cheers|best|sincerely|warmly|take care)[\s,.\-\u2013\u2014]+"
                       r"[A-Z][a-z]{1,14}(?:\s[A-Z]\.?)?$", re.I)
# a bare first name after the last sentence ("... browser? Lewis"), not a word of the sentence
_BARE_NAME = re.compile(r"[.!?]\s+([A-Z][a-z]{2,14})$")
_NOT_NAMES = frozenset("thanks thank cheers regards best sorry please hello hi hey welcome enjoy bye goodbye "
                       "apologies congrats congratulations yes no ok okay great".split())
PRIVATE_CHANNEL = re.compile(
    r"\b(?:DMs?|DM'?d|PMs?|direct(?:ly)? messag\w*|private(?:ly)? messag\w*|privately|in private|message us|"
    r"(?:send|drop|shoot) us an? (?:DM|note|message|e-?mail)|e-?mail us|call us|give us a (?:call|ring)|"
    r"reach (?:out to )?us (?:at|on|via)|live chat|chat with us|secure form)\b", re.I)

# a greeting opening the message (after any @handles): "Hi", "Hello there", "Good morning", "Dear Sam"
_HANDLES = re.compile(r"^(?:\s*@\w+[,:]?)+\s*")
_GREETING = re.compile(r"^(?:hi|hii+|hello|hey|hiya|howdy|greetings|dear|good\s+(?:morning|afternoon|evening|day)|"
                       r"morning|evening|aloha|hola|bonjour|welcome)\b", re.I)
# the customer's name as a vocative in the opening sentence: "We're sorry for the wait, Mauricio." (not a sign-off)
_VOCATIVE = re.compile(r"^[^.!?]{0,120}?,\s+([A-Z][a-z]{1,14})(?=\s*[.!?,])")


def strip_tail(text: str) -> str:
    """``text`` without what may follow a signature: links, thread markers (1/2, (cont)), emoji, final stops."""
    return _THREAD_TAIL.sub("", text.strip()).rstrip()


def has_signature(text: str) -> bool:
    """Whether the message ends with a person's signature: a mark and initials or a name (``^JK``, ``/JI``,
    ``*HFG``, ``-Sam``), a sign-off with a name ("Thanks, Leah"), or a first name closing the message."""
    tail = strip_tail(text)
    if _MARKED.search(tail) or _SIGN_OFF.search(tail):
        return True
    bare = _BARE_NAME.search(tail)
    return bool(bare) and bare[1].lower() not in _NOT_NAMES


# a part marker of a reply split over several messages: "1/2", "(2/3)", at the message's start (after its @handles)
# or end (where only links, a signature, emoji or stops may follow it)
_PART = re.compile(r"(?<![\w/])\(?([1-9])/([1-9])\)?(?![\w/])")
_AFTER_PART = re.compile(r"^(?:\s*(?:https?://\S+|[\^*~\-\u2013\u2014]\s*[A-Za-z]{1,20}|[.!\u2026]+|"
                         r"[\u2600-\u27bf\U0001F000-\U0001FAFF\uFE0F]+))*\s*$")


_DATE_BEFORE = re.compile(r"\b(?:by|on|until|till|til|from|before|after|since|of|at|for|to|due|dated|expected)\s*$", re.I)
_FRACTION_OF = re.compile(r"\s*(?:of|off|price|priced|hours?|an? )\b", re.I)


def reply_part(text: str) -> tuple[int, int] | None:
    """``(k, n)`` when the message is part k of a reply split over n messages ("... 1/2", "@123 2/2 which ..."),
    else None: not a date closing a sentence ("back in stock by 2/8.") nor a fraction ("1/2 price"). A part cut
    mid-sentence may end on a preposition ("she can also contact us on 1/2")."""
    body = _HANDLES.sub("", text.strip())
    for found in _PART.finditer(body):
        k, n = int(found[1]), int(found[2])
        if not (1 <= k <= n and n >= 2):
            continue
        after = body[found.end():]
        if found.start() == 0 and not _FRACTION_OF.match(after):
            return k, n
        if _AFTER_PART.match(after) and not (_DATE_BEFORE.search(body[:found.start()]) and after[:1] in (".", "!", "?")):
            return k, n
    return None


def signs_reply(text: str) -> bool:
    """Whether the message meets "every reply is signed": it ends with a signature (``has_signature``), or it is an
    early part of a reply split over several messages (1/2 of 2), which is signed on its last part: that part is
    judged on its own, and where the transcript does not show it, nothing says the reply went unsigned."""
    part = reply_part(text)
    return has_signature(text) or (part is not None and part[0] < part[1])


def has_link(text: str) -> bool:
    """Whether the message holds a web link."""
    return bool(URL.search(text))


def has_email(text: str) -> bool:
    """Whether the message holds an e-mail address."""
    return bool(EMAIL.search(text))


def has_phone(text: str) -> bool:
    """Whether the message holds a phone number (digits grouped like one, or a 1-800 number)."""
    return bool(PHONE.search(text))


def names_private_channel(text: str) -> bool:
    """Whether the message names a private channel: DM, direct or private message, e-mail, a call, a chat, a form."""
    return bool(PRIVATE_CHANNEL.search(text))


def greets(text: str) -> bool:
    """Whether the message opens by addressing the customer: a greeting ("Hi", "Hello", "Good morning", "Dear ...")
    as its first word after any @handles, or a name as a vocative in its opening sentence ("We're sorry for the
    wait, Mauricio.")."""
    body = _HANDLES.sub("", text.strip())
    if _GREETING.match(body):
        return True
    vocative = _VOCATIVE.match(body)
    return bool(vocative) and vocative[1].lower() not in _NOT_NAMES and vocative.end() < len(strip_tail(body))


# thanking: "thanks", "thank you", "thank for", "thx", "ty", "many thanks", or appreciating what the customer gave
# ("we appreciate your patience", "appreciate you letting us know"; not "I can appreciate your frustration", which
# is empathy, nor "we'd appreciate it if you DM us", a request)
_THANKS = re.compile(
    r"(?<!\bno )(?<!\bno, )\b(?:thank(?:s|\s+you|\s+u)?|thx|ty|tysm)\b"
    r"(?!\s+to\s+(?!you\b|u\b|all\b|every))(?!\s+(?:god|goodness|heavens?)\b)|\bappreciated?\s+(?:(?:all\s+)?(?:your|the)\s+(?:\w+\s+)?"
    r"(?:patience|understanding|time|feedback|feed back|loyalty|thoughts|response|reply|info|information|heads|"
    r"business|support|help|cooperation|co-operation|kind words|comments?|input|message|note|suggestions?)|"
    r"you\s+(?:letting|choosing|giving|providing|reaching|taking|being|sharing|contacting|bringing|telling|getting|"
    r"flying|waiting))\b|"
    r"\b(?:patience|understanding|feedback|support|help) (?:is|was) (?:much |really |greatly |very much )?appreciated\b",
    re.I)


def thanks(text: str) -> bool:
    """Whether the message thanks someone ("Thanks for waiting", "Thank you", "TY", "We appreciate your patience")."""
    return bool(_THANKS.search(text))


# an offer of further help, the door left open: "let us know if ...", "anything else", "we're here if you need us",
# "feel free to reach out", "don't hesitate", "any other questions", "for further assistance" (not "let us know your
# order number" or "let us know how many bags", requests; not "we'll reach out to you", a promise, nor "reach out
# to our phone team", a redirect)
_FURTHER_HELP = re.compile(
    r"\blet (?:us|me) know (?:if|whether|should|how (?!much|many|long|old|often|far))\b|\banything else\b|"
    r"\b(?:we're|we are|i'm|i am) (?:always )?(?:here|around)\b|\bfeel free\b|\bdon'?t hesitate\b|"
    r"\b(?:reach (?:back )?out|get (?:back )?in touch)(?: (?:to|with) us)? (?:again|any ?time|if)\b|"
    r"\bany (?:other|more|further) (?:questions?|help|concerns?|issues?|queries)\b|"
    r"\bif you (?:need|have) (?:anything|any|us|help|further|more)\b|\bhere (?:for you|to help)\b|"
    r"\b(?:happy|glad) to help (?:further|again|any ?time|with anything)\b|\bfurther (?:assistance|help|questions)\b",
    re.I)


def offers_further_help(text: str) -> bool:
    """Whether the message leaves the door open: invites the customer back, asks whether anything else is needed,
    or says the team is there ("Let us know if you need anything else", "We're here if you need us")."""
    return bool(_FURTHER_HELP.search(text))


# good wishes: "have a good day", "enjoy your flight", "safe travels", "take care", "all the best"
_WISHES = re.compile(r"(?<!n't )(?<!not )\bhave an? (?:\w+ )?(?:good|great|nice|lovely|wonderful|safe|pleasant|fantastic|fab|happy) "
                     r"(?:\w+ )?(?:day|evening|night|weekend|week|morning|afternoon|trip|flight|journey|holiday|"
                     r"time|one)\b|"
                     r"\benjoy (?:your|the)\b|\bsafe (?:travels|trip|flight|journey)\b|\btake care\b|\ball the best\b|"
                     r"\bbest wishes\b|\bgood luck\b|\bbon voyage\b", re.I)


def closes_courteously(text: str) -> bool:
    """Whether the message ends a conversation on a courteous note the usual ways: it thanks the customer, wishes
    them well ("Have a good day", "Safe travels") or leaves the door open (``offers_further_help``)."""
    return thanks(text) or bool(_WISHES.search(text)) or offers_further_help(text)


# an apology: "sorry", "apologies", "we apologise", "we regret"
_APOLOGY = re.compile(r"\b(?:sorry|apolog(?:y|ies|i[sz]e[sd]?|i[sz]ing)|regret(?:s|ted|table|tably)?)\b", re.I)
# words of empathy: "oh no", "sad / disappointed to hear", "that doesn't sound right", "not the experience we want",
# "we understand how frustrating this is", "I can imagine"
_EMPATHY = re.compile(
    r"\b(?:oh no|oh dear|"
    r"(?:hate|sad|unhappy|upset|concerned|disappointed|saddened|troubled|dismayed|gutted) to (?:hear|see|learn|read)|"
    r"not (?:great|good|nice|what we (?:like|want)) to (?:hear|see|read)|"
    r"not (?:the (?:experience|service|news)|what we (?:like|want|expect|aim|strive))|"
    r"(?:isn['’]t|is not|wasn['’]t|was not|doesn['’]t sound|does not sound|don['’]t sound) (?:good|great|right|ideal|"
    r"what we|the experience)|"
    r"(?:we|i) (?:completely |totally |fully |really |can |do |certainly |definitely )?understand "
    r"(?:how|your|the|that|why|this|what)\b(?!\s+(?:you|we)\s+(?:need|mean|want|are\s+asking))|"
    r"(?:can|could) (?:only )?imagine|frustrat\w*|disappoint\w*|inconvenien\w*|we hear you|feel your pain)\b", re.I)


def apologises(text: str) -> bool:
    """Whether the message apologises or expresses regret ("Sorry to hear that", "Our apologies", "We regret ...")."""
    return bool(_APOLOGY.search(text))


def shows_empathy(text: str) -> bool:
    """Whether the message apologises (``apologises``) or shows empathy in the usual words ("Oh no!", "That doesn't
    sound right", "We understand how frustrating this is", "Not the experience we want for you")."""
    return apologises(text) or bool(_EMPATHY.search(text))


# a request to the customer: to send, share, confirm or check something, to DM us, to tell us which / what / when
_REQUEST = re.compile(
    r"\b(?:dm|pm|message|send|e-?mail|share|provide|confirm|tell|forward|drop|shoot|write)\s+(?:us|me|our team)\b"
    r"(?!\s+(?:back\s+)?(?:if|whenever|any\s?time|again)\b)|"
    r"\bgive\s+(?:us|me)\s+(?:your|the|a\s+few|some|more)\b|"
    r"\b(?:send|drop|shoot)\s+(?:a|an|your)\s+(?:dm|pm|message|note|line|e-?mail)\b|"
    r"\b(?:please|kindly)\s+(?:send|share|provide|confirm|tell|include|reply|respond|dm|pm|fill|attach|write|"
    r"follow\s+(?:us|and\s+dm)|let\s+(?:us|me)\s+know(?!\s+(?:if|whether|should)\b)\s+\w+)\b|"
    r"\blet\s+(?:us|me)\s+know\s+(?!if\b|whether\b|should\b)(?:\w+\s+){0,2}?"
    r"(?:your|the|which|what|when|where|who|how|more|a\s+bit|some|any|this|that)\b|"
    r"\b(?:we|i)(?:['’]ll|\s+will|['’]d|\s+would)?\s+(?:need|require|like)\s+(?:your|the|some|a\s+few|more|"
    r"to\s+(?:see|know|get|have|check|confirm|verify))\b|"
    r"\b(?:can|could|would|will)\s+you\s+(?:please\s+)?(?:send|share|provide|confirm|check|tell|dm|pm|give|let|"
    r"include|verify|clarify|describe|explain|review|email|e-mail|attach|write)\b", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])")


def asks_for_information(text: str) -> bool:
    """Whether the message asks the customer for something: a question put to them ("Which device are you using?",
    "Did that help?"), or a request to send, share, confirm or check something, or to DM us ("DM us your order
    number", "Please confirm your postcode", "Let us know which store"). An offer of further help ("Is there
    anything else we can help with?", "Let us know if you need anything") asks for nothing."""
    body = _HANDLES.sub("", text)
    questions = [q for q in _SENTENCE_END.split(body) if q.endswith("?") and not offers_further_help(q)]
    return bool(questions) or bool(_REQUEST.search(body))


def asks_question(text: str) -> bool:
    """Whether the message holds a question mark."""
    return "?" in text


# a personal detail or identifier: a booking, order, account, membership, loyalty or ticket number or reference, a
# record locator, an e-mail address, a phone number, a postcode, a date of birth, a passport number ("your" optional:
# "provide us correct booking number"); an address, a name or an e-mail only as "your ..." ("the address of the
# store", "the email we sent" are not asked for); personal or contact details as such. Not a flight number or a travel
# date, nor "more details" about what happened.
_NUMBERED = (
    r"(?:(?:booking|reservation|confirmation|conf|order|account|acct|membership|member|loyalty|customer|"
    r"ticket|e-?ticket|frequent\s+fl[iy]er|ff|rewards?|a?advantage|skymiles|krisflyer|avios|executive\s+club|miles|"
    r"passport|card|id)\s*(?:ref(?:erence)?|number|no\.?|nr|#|code|id)s?|(?:booking|conf(?:irmation)?)\s+(?:details|info)|"
    r"record\s+locators?|pnrs?|"
    r"e-?mail\s+(?:address(?:es)?|id)|(?:phone|mobile|cell|contact|telephone)\s*(?:number|no\.?|nr|#)s?|"
    r"post\s?codes?|zip\s?codes?|date\s+of\s+birth|dob|passport)(?![\w#])")
_OWNED = r"(?:(?:full\s+|home\s+|postal\s+|mailing\s+|shipping\s+|billing\s+)?address(?:es)?|(?:full\s+)?names?|e-?mail|zip)(?!\w)"
_CATCH_ALL = r"(?:personal|contact|account)\s+(?:details?|data|information|info)"
_YOUR = r"(?:your|you['’]re|ur|yr)"
_LIST_GAP = r"(?:[\w'’-]+[,/&]?\s+){0,3}?"  # "your name, address & email address": a few words of a list
# a request for one: "DM us your booking reference", "What's your confirmation number?", "We'll need you're booking
# reference, email address and contact number", "May we know your booking no"
_ASK_VERB = (r"send|share|provide|confirm|give|tell|dm|pm|tweet|(?:message|e-?mail)\s+(?:us|me)|forward|include|need|"
             r"require|verify|post|let\s+(?:us|me)\s+(?:know|have)|what(?:['’]s|\s+is|\s+are)")
_ASKS_FOR_IDENTIFIER = re.compile(
    rf"\b(?:{_ASK_VERB}|drop|pop|reply\s+with|let\s+(?:us|me)\s+see|what\s+was|(?:can|could|may)\s+(?:we|i)\s+"
    rf"(?:get|have|take|know))\b[^.!?]{{0,60}}?\b(?:(?:{_YOUR}|the|their|his|her|a|an|us)\s+)?{_LIST_GAP}{_NUMBERED}|"
    rf"\b(?:{_ASK_VERB})\b[^.!?]{{0,60}}?"
    rf"\b(?:{_YOUR}\s+{_LIST_GAP}(?:{_OWNED}|{_CATCH_ALL})|(?:the|their|his|her)\s+{_CATCH_ALL})", re.I)
_NEGATED = re.compile(r"\b(?:don['’]?t|do\s+not|never|no\s+need\s+to|please\s+avoid|without)\s+(?:\w+\s+){0,2}$", re.I)


def asks_for_personal_data(text: str) -> bool:
    """Whether the message asks the customer for a personal detail or identifier: a booking or order reference, an
    account, membership or loyalty number, an e-mail address, a phone number, the customer's address or name, a date
    of birth ("Please DM us your booking reference", "What's your confirmation number?"; not "Please don't post your
    booking reference here"); a flight number, a travel date or more details about what happened are not personal
    data."""
    body = _HANDLES.sub("", text)
    return any(not _NEGATED.search(body[:found.start()]) for found in _ASKS_FOR_IDENTIFIER.finditer(body))


def asks_for_personal_data_publicly(text: str) -> bool:
    """Whether the message asks for a personal detail (``asks_for_personal_data``) without sending it to a private
    channel: no DM, private message, e-mail, call or secure form named anywhere in the message ("What's your
    confirmation number?", not "Please DM us your confirmation number"). A part of a reply split over several messages
    is not judged alone: the channel may be named in another part."""
    return asks_for_personal_data(text) and not names_private_channel(text) and reply_part(text) is None


DETECTORS: dict[str, Callable[[str], bool]] = {
    "signature": signs_reply,
    "link": has_link,
    "email": has_email,
    "phone": has_phone,
    "private_channel": names_private_channel,
    "question": asks_question,
    "personal_data_request": asks_for_personal_data,
    "public_personal_data_request": asks_for_personal_data_publicly,
    "information_request": asks_for_information,
    "apology": apologises,
    "empathy": shows_empathy,
    "greeting": greets,
    "thanks": thanks,
    "further_help": offers_further_help,
    "courteous_close": closes_courteously,
}
_SIGNATURE = (r"(?:(?:(?:an?|the|their|its)\s+)?(?:agent'?s?'?\s+)?(?:signature|initials|sign-?off)|"
              r"(?:the\s+)?agent'?s?'?\s+(?:initials|(?:first\s+)?name))")
# what may follow the signature a question asks about: "... with (the agent's) initials or first name", and examples
# in brackets ("(^KL, -Ana)")
_SIGNED_WITH = r"(?:,?\s+(?:with|using|showing|giving)\s+(?:the\s+|their\s+)?(?:agent'?s?'?\s+)?(?:initials|(?:first\s+)?name)" \
               r"(?:\s+or\s+(?:\w+\s+)?(?:initials|(?:first\s+)?name))?)"
_EXAMPLES = r"(?:\s*\([^()]*\))"
_PERSON = r"(?:customer|traveller|traveler|passenger|user|client|guest|caller|member|person)"
# What a check's question must be about for its detector to answer it. Only questions whose whole content is the
# form qualify ("does this reply carry a signature", "does this reply include a link"); "does it give a link to a
# help page or other next step" is about meaning and stays with the model.
_ABOUT = (
    ("signature", re.compile(rf"^(?:does|is) this (?:public )?(?:reply|message) (?:\w+\s+){{0,2}}?(?:with\s+|by\s+)?"
                             rf"{_SIGNATURE}(?:\s+or\s+(?:\w+\s+){{0,2}}?(?:signature|initials|(?:first\s+)?name|sign-?off))?"
                             rf"(?:\s+signed)?{_SIGNED_WITH}?(?:\s+(?:at the (?:end|bottom)|below))?{_EXAMPLES}?\??$", re.I)),
    ("signature", re.compile(rf"^is this (?:public )?(?:reply|message) signed(?: by (?:the|its|an?) (?:agent|person|author|"
                             rf"writer)(?: who wrote it)?)?(?:,?\s+with [\w' ]+)?{_EXAMPLES}?\??$", re.I)),
    ("link", re.compile(r"^(?:does|is) this (?:reply|message) (?:include|contain|carry|have|give|share|provide)"
                        r"(?: an?| the)? (?:link|url|web ?link|web address)\??$", re.I)),
    ("email", re.compile(r"^(?:does|is) this (?:reply|message) (?:include|contain|carry|have|give|share|provide|show)"
                         r"(?: an?| the)? e-?mail address\??$", re.I)),
    ("phone", re.compile(r"^(?:does|is) this (?:reply|message) (?:include|contain|carry|have|give|share|provide|show)"
                         r"(?: an?| the)? (?:phone|telephone) number\??$", re.I)),
    ("private_channel", re.compile(r"^(?:does|is) this (?:reply|message) (?:mention|name|offer|suggest|propose|"
                                   r"invite the customer to|ask the customer to|move the conversation to|"
                                   r"take the conversation to)(?: continue| go| move| switch)?(?: in| to| by| via)?"
                                   r"(?: an?| the)? (?:private channel|DM|direct message|private message)"
                                   r"(?: \(?(?:DM|direct message|private message)\)?)?\??$", re.I)),
    # an apology, or empathy, as such, with no "for what" ("apologise for the delay" is about meaning)
    ("apology", re.compile(r"^does this (?:reply|message) (?:apologi[sz]e|say sorry|(?:offer|include|make|give) an apology)"
                           r"(?:,? or (?:express|show) regret)?\??$", re.I)),
    ("empathy", re.compile(r"^does this (?:reply|message) (?:(?:acknowledge (?:the|their|the \w+['’]s) (?:problem|issue|"
                           r"concern|complaint|disruption|frustration) )?(?:with|show(?:ing)?|express(?:ing)?) "
                           r"(?:empathy|sympathy)|(?:express|show) (?:empathy|sympathy)|apologi[sz]e or (?:express|show) "
                           r"(?:empathy|sympathy|understanding))\??$", re.I)),
    # a request to the customer as such ("does the agent ask the customer for any information"); a request for
    # something in particular ("ask for a password", "ask for personal details") is about meaning
    ("information_request", re.compile(rf"^(?:in this (?:reply|message), )?does (?:the agent|this (?:reply|message)) "
                                    rf"(?:ask|request)(?: the {_PERSON})?(?: for)? (?:any |some |more )?"
                                    rf"(?:information|info|details)(?: at all)?(?: from the {_PERSON})?\??$", re.I)),
    ("question", re.compile(r"^(?:does|is) this (?:reply|message) (?:ask|contain|include|have)(?: an?)? question"
                            r"(?: mark)?\??$", re.I)),
    # a courteous close as such: "close the conversation on a courteous note", "end politely"
    ("courteous_close", re.compile(r"^does this (?:reply|message) (?:close|end|finish|conclude|sign off)"
                                   r"(?: the conversation)?(?: on an? (?:courteous|polite|friendly|positive|warm|kind) "
                                   r"note| (?:courteously|politely))\??$", re.I)),
    # an offer of further help however it is put, as a whole question (not "... and give a timeframe")
    ("further_help", re.compile(
        rf"^does this (?:reply|message) (?:(?:offer|propose|extend) (?:any |some )?"
        rf"(?:further|more|additional|continued) (?:help|assistance|support)|"
        rf"leave the door open(?: for (?:further|more) (?:help|assistance|questions))?|"
        rf"invite the {_PERSON} to (?:come back|reach out(?: again)?|get (?:back )?in touch(?: again)?|return|"
        rf"contact us again)|ask (?:whether|if) (?:anything else is needed|the {_PERSON} needs anything else)|"
        rf"say (?:that )?the team is (?:available|there|here))"
        rf"(?:,? or (?:invite the {_PERSON} to (?:come back|reach out(?: again)?|get (?:back )?in touch(?: again)?)|"
        rf"ask (?:whether|if) (?:anything else is needed|the {_PERSON} needs anything else)|"
        rf"offer (?:further|more) (?:help|assistance)))?\??$", re.I)),
    ("greeting", re.compile(rf"^(?:does|is) this (?:reply|message) (?:(?:open|start|begin) with|include|contain|have)"
                            rf"(?: an?| the)? (?:personal |friendly )?greeting(?: (?:for|to) the {_PERSON})?\??$", re.I)),
    ("greeting", re.compile(rf"^does this (?:reply|message) (?:greet|address) the {_PERSON}(?: personally| by (?:their |"
                            rf"his or her )?(?:first )?name)?(?:,? or (?:use (?:their|his or her|the {_PERSON}'s) "
                            rf"name|(?:call|address) (?:them|the {_PERSON}) by (?:their )?name))?\??$", re.I)),
)


# What a reply may be asked to thank the customer for and still be a question about thanking as such: the usual
# reasons, which a thanks answers whatever it names ("thank the customer for reaching out, patience, information,
# or feedback"); any other ("thank the customer for their payment") is about meaning and stays with the model.
_THANKED_FOR = frozenset("reaching out contacting getting in touch writing tweeting their your his her the its "
                         "patience waiting information info details feedback message messages understanding "
                         "letting us know time business support cooperation or and to with".split())
_THANKS_ASKED = re.compile(rf"^(?:does|is) this (?:reply|message) (?:thank(?:ing)?|(?:express|show|give|say|include)"
                           rf"(?:s|ing)? (?:an? )?(?:thanks|thank-you|thank you|gratitude|appreciation)(?: to)?)"
                           rf"(?: the {_PERSON}(?: at least once)?)?(?: for (?P<reasons>[\w ,']+?))?"
                           r"(?: \([^()]*\))?\??$", re.I)  # examples in brackets: "(thanks, thank you, we appreciate)"


# A request for personal data in general, with examples: "does this reply ask for a booking reference, email
# address, phone number or other personal details", with "publicly" / "in a public reply" / "instead of by DM" for
# one made in public. The things asked for must all be personal details (``_DATA_WORDS``), at least one named, and end
# in "or other personal details": a question about one of them ("ask for a passport or card number", "ask for the
# customer's email address") is narrower than the detector and stays with the model, as does "personal details" alone.
_PUBLICLY = (r"(?:publicly|in public|in (?:an?|the) public (?:reply|tweet|post|message|thread|channel|timeline)|"
             r"(?:rather than|instead of|without(?: asking for| using)?)(?: by| in| via| through)?(?: an?| the)? "
             r"(?:DM|direct message|private message|private channel))")
_DATA_ASKED = re.compile(rf"^(?:does|is) this (?:public )?(?:reply|message) (?:ask|request)(?: the {_PERSON})?"
                         rf"(?: for| to (?:send|share|provide|give))? (?P<items>[\w ,'#&-]+?)"
                         rf"(?P<public>(?:,? (?:to be (?:posted|shared|sent|given) )?{_PUBLICLY}){{1,2}})?\??$", re.I)
_DATA_WORDS = frozenset("a an any the their his her its other or and customer's traveller's traveler's passenger's "
                        "customers' booking reference references ref refs number numbers confirmation code codes "
                        "record locator locators pnr frequent flyer flier ff rewards loyalty membership member account "
                        "order ticket e-ticket email e-mail address addresses phone mobile contact telephone postcode "
                        "post code zip date of birth full name names passport card id personal details detail data "
                        "information info".split())
_NAMES_ONE = re.compile(rf"\b(?:{_NUMBERED}|{_OWNED})", re.I)
_OR_OTHER = re.compile(rf"\b(?:or|and)\s+(?:any\s+)?other\s+{_CATCH_ALL}$", re.I)


def _data_detector(question: str) -> str | None:
    """The personal-data detector that answers ``question`` (in public, or anywhere), or None."""
    asked = _DATA_ASKED.match(question.replace("’", "'"))
    if not asked or not set(re.findall(r"[a-z'-]+", asked["items"].lower())) <= _DATA_WORDS:
        return None
    if not (_OR_OTHER.search(asked["items"]) and _NAMES_ONE.search(asked["items"])):
        return None
    return "public_personal_data_request" if asked["public"] else "personal_data_request"


_EXCLUDING = re.compile(r"\(\s*(?:not|except|excluding|unless|other than|but not|never|only|if|when|where)\b", re.I)


def detector_for(question: str) -> str | None:
    """The detector that answers ``question`` exactly, or None when the question is about meaning."""
    q = " ".join(question.split())
    if _EXCLUDING.search(q):  # "thank the customer (not a sign-off like 'thanks, Sam')": a qualification to read
        return None
    thanking = _THANKS_ASKED.match(q)
    if thanking and set(re.findall(r"[a-z']+", (thanking["reasons"] or "").lower())) <= _THANKED_FOR:
        return "thanks"
    return next((name for name, pattern in _ABOUT if pattern.match(q)), None) or _data_detector(q)


def detect(name: str, text: str) -> bool:
    """Run detector ``name`` on ``text``."""
    return DETECTORS[name](text)
