"""Exact detectors for checks about form: golden cases from TweetSumm-style replies, and which questions they take."""

import pytest

from assistant.detectors import (
    apologises, asks_for_information, asks_question, closes_courteously, detect, detector_for, has_email, has_link,
    has_phone, has_signature, names_private_channel, offers_further_help, reply_part, shows_empathy, signs_reply,
    thanks,
)

SIGNED = [
    "Sorry to hear that. ^JK",
    "We can help! DM us. /JI https://t.co/x1",
    "Let's get this sorted. *HFG",
    "Thanks for waiting - Ed",
    "Regards, Dinesh.",
    "Is it the app or the browser? Lewis",
    "Please try again and let us know. thanks ^SG 2/2",
    "We'll check it out! -Carol (1/2)",
    "Great to hear \U0001F642 /CH",
    "Happy to help. Thanks-Sha",
    "Which version are you on?~  Matt",
    "Hope this helps. ^cd",
    "This sounds like a bug^SV", "we'll advise on this date for you. 2/2^ML",  # initials glued to the text
]
UNSIGNED = [
    "Please call.",
    "Okay. Can we have you try reinstalling the app?",
    "Let us know. Thanks",
    "Could you DM us your account email? Thanks!",
    "Check the status here: https://t.co/abc",
    "It will be fixed in 1-2 mins.",
    "The flight leaves at 4/5 of the way through the day",
    "Sorry",
    "Try 2^n", "Check e^x", "Sorry about that ^^ lol",  # a caret that marks no initials
]


@pytest.mark.parametrize("text", SIGNED)
def test_signed_replies(text):
    assert has_signature(text)


@pytest.mark.parametrize("text", UNSIGNED)
def test_unsigned_replies(text):
    assert not has_signature(text)


@pytest.mark.parametrize("text,part", [
    ("@702126 Hi James, the lanes were simply closed. 1/2", (1, 2)),
    ("@491256 Please call our baggage team... 1/2", (1, 2)),
    ("If you DM us using the below...1/2 https://t.co/MdMtnTlX6H", (1, 2)),
    ("Kindly share it over the secure link we shared. (1/2)^CB", (1, 2)),
    ("Thanks for the feedback! 1/3 *SamanthaCassidy", (1, 3)),
    ("@752353 2/2 which will take you about an hour. ^cd", (2, 2)),
    ("@210573 ...unable to do it every time. *AOS 2/2", (2, 2)),
    ("@1 It takes 1/2 hour to get there.", None),  # a fraction, not a part
    ("@1 We offer 1/2 price tickets today", None),
    ("@1 Your flight on 3/4 is fine", None),
    ("@1 Open 24/7 for you", None),
    ("@1 Part 3/2 makes no sense", None),
    ("@1 It will be back in stock by 2/8.", None), ("@1 Your refund posts on 3/5!", None),  # dates at the end
    ("@1 she can also contact us on 1/2", (1, 2)),  # a part cut mid-sentence
    ("@1 1/2 of the orders were late", None), ("@1 1/2 price on all items today!", None),  # fractions at the start
])
def test_reply_parts(text, part):
    assert reply_part(text) == part


def test_an_early_part_of_a_split_reply_is_signed_on_its_last_part():
    # "every reply is signed": a reply split over two messages carries its signature on the second
    assert signs_reply("@702126 Hi James, the lanes were simply closed. 1/2")
    assert signs_reply("@1 Let us check. ^KL 2/2") and not signs_reply("@1 the last part, unsigned 2/2")
    assert not signs_reply("@1 Please call us.") and signs_reply("Sorry to hear that. ^JK")
    assert detect("signature", "@1 Hi James, the lanes were simply closed. 1/2")
    assert not has_signature("@1 Hi James, the lanes were simply closed. 1/2")  # the message as written has none


@pytest.mark.parametrize("text,thanked", [
    ("Thanks for waiting", True), ("@1 Is that the app? TY - Lee", True), ("Thank you!", True),
    ("Thank for your interest", True), ("We appreciate your patience while we look", True),
    ("We appreciate you letting us know", True), ("appreciate the heads up ^JK", True),
    ("Your patience is appreciated. ^SL", True),
    ("I can appreciate your frustration.", False),  # empathy
    ("We'd appreciate it if you DM us", False),  # a request
    ("We appreciate that this is frustrating", False), ("Happy Thanksgiving!", False), ("Please DM us. ^JK", False),
    ("Thanks to you too for understanding", True), ("No thanks", False), ("Thank god it arrived", False),
    ("Thanks to the storm, all flights are cancelled.", False),
])
def test_thanks(text, thanked):
    assert thanks(text) is thanked


@pytest.mark.parametrize("text,open_door", [
    ("Do let us know if you have more issues with the game. ^JL", True), ("Is there anything else I can help with?", True),
    ("We're here if you need us!", True), ("Feel free to reach out anytime.", True), ("Don't hesitate to DM us", True),
    ("Any other questions, just shout.", True), ("Please reach out to me at this link for further assistance.", True),
    ("Let us know your order number", False),  # a request
    ("Our pleasure. Enjoy your day. ^CAR", False), ("We have responded to your DM.", False),
    ("Happy to help! Gordon.", False),
    ("Please reach out again if it happens.", True), ("Get back in touch with us anytime.", True),
    # the agent's own promise, a redirect, a thanks: none leaves the door open (TweetSumm train replies)
    ("Our team will reach out to you as soon as we have more information.", False),
    ("Since there hasn't been any improvement, reach out: https://t.co/x", False),
    ("Kindly share your convenient time to get in touch with you.", False),
    ("Let us know how it goes", True),
    ("Let me know how many bags you checked.", False),
    ("Thanks for taking the time to reach out, your feedback's been noted", False),
])
def test_further_help(text, open_door):
    assert offers_further_help(text) is open_door


@pytest.mark.parametrize("text,courteous", [
    ("You are very welcome Beth. Have a good day. *TMS", True), ("Safe travels! ^KL", True),
    ("Thanks for hanging in there with us. ^VP", True), ("Do you have any other questions? ^St", True),
    ("The staff at the desks are doing their best to rebook everyone. ^Sarah 2/2", False),
    ("Please DM us the information. ^DR", False), ("No worries! You can enroll here: https://t.co/x", False),
    ("Sorry you didn't have a great flight.", False),
])
def test_courteous_close(text, courteous):
    assert closes_courteously(text) is courteous


def test_links_emails_phones_channels_questions():
    assert has_link("see https://t.co/xyz") and has_link("go to www.example.com/help") and has_link("apple.co/2ab")
    assert not has_link("we're on it. ^JK") and not has_link("version 2.5 of the app")
    assert has_email("write to help@acme.co.uk") and not has_email("DM us @AcmeHelp")
    assert has_phone("call us at 1-800-433-7300") and has_phone("+44 20 7946 0958") and has_phone("800-555-1234")
    assert not has_phone("flight 1234 on 12/11") and not has_phone("order 5521")
    assert names_private_channel("Please DM us your order number") and names_private_channel("send us a direct message")
    assert names_private_channel("Give us a call") and not names_private_channel("We're sorry to hear that")
    assert not names_private_channel("The DMV is closed") and asks_question("Can you DM us?")
    assert not asks_question("Thanks!")


@pytest.mark.parametrize("text,asks", [
    # questions put to the customer, and requests (TweetSumm train replies)
    ("@386661 Thanks! Just to check, is this happening on both devices or just on your phone? /JP", True),
    ("@124926 Currently, not directly through Spotify. However, can you DM us your account's username?", True),
    ("@663549 Thank you for the pictures. Please DM us so we can get you in the right place.", True),
    ("@281382 kindly provide the recharge card details along side mobile number via DM.", True),
    ("@127530 Please let us know convenient time to reach you.", True),
    ("Let me know which store you visited", True), ("We'll need your booking reference to check this.", True),
    ("Write us back with your Idea number and alternate contact details.", True),
    # further help, instructions, redirects, statements: nothing asked of the customer
    ("@360804 Great! Glad to hear it's working. Just let us know if we can help with anything else. /VK", False),
    ("@309783 Just give us a shout if you need help with anything else. We're just a tweet away", False),
    ("Is there anything else we can help you with? ^AB", False),
    ("Message us back if you need further assistance.", False),
    ("Please let us know if you have any questions.", False),
    ("@312668 Sorry to hear that, please contact our dedicated Smart Card team on 0345 810 1010. ^JM", False),
    ("@254533 Thanks for that! Let's try uninstalling the game, power cycling, and reinstalling 1 ^RR", False),
    ("@688992 I'll have a look into this for you and will be back ASAP. Sas", False),
    ("@318783 Also, Please don't provide your order details, [2/3] ^SK", False),
])
def test_information_requests(text, asks):
    assert asks_for_information(text) is asks


@pytest.mark.parametrize("text,apology,empathy", [
    # TweetSumm train first replies
    ("@317718 I apologize for the inconvenience. I will be glad to assist you. -JB", True, True),
    ("@554997 It's taking longer right now due to our backlog. Sorry about this.", True, True),
    ("@760758 Our apologies. May we ask what specific website you are trying to access?", True, True),
    ("@156566 That does sound frustrating! Which device is this occurring on?", False, True),
    ("@131457 Hmm, that doesn't sound right. What Spotify version are you using? /JE", False, True),
    ("@423503 Oh no! I would be happy to help. Please DM me your address. -AR", False, True),
    ("@328134 Not great to hear Tristan, which service are you travelling on please? ^HP", False, True),
    ("@382371 We know how frustrating it is to be without a bag. ^MS", False, True),
    ("@638452 We get this quite a lot. If they want a refund they can request it from their rep. ^J", False, False),
    ("@124579 I'd be happy to help! What are you needing assistance with? ^M", False, False),
    ("We understand you need the receipt by Friday.", False, False),
])
def test_apology_and_empathy(text, apology, empathy):
    assert apologises(text) is apology and shows_empathy(text) is empathy


@pytest.mark.parametrize("question,detector", [
    ("Does this reply apologise or express regret?", "apology"),
    ("Does this reply acknowledge the problem with empathy?", "empathy"),
    ("Does this reply show empathy?", "empathy"),
    ("Does this reply apologise for the delay?", None),  # for what: meaning
    ("In this reply, does the agent ask the customer for any information?", "information_request"),
    ("Does this reply ask the customer for information?", "information_request"),
    ("Does this reply request more details?", "information_request"),
    ("Does this reply ask the customer for personal details?", None),  # which details: meaning
    ("Does this reply ask for a password?", None),
    ("Does this reply carry a signature?", "signature"),
    ("Does this reply end with the agent's signature or initials?", "signature"),
    ("Is this reply signed?", "signature"),
    ("Does this reply sign with the agent's initials or first name?", "signature"),
    ("Does this reply have the agent's initials or first name signed at the bottom?", "signature"),
    ("Does this reply have the agent's name signed at the end?", "signature"),
    ("Does this reply have the agent's name signed by a manager?", None),
    # how a compile model may word "every public reply is signed by the agent who wrote it, with their initials or
    # first name (for example ^KL, -Ana)": greedy wording differs from one CPU to another
    ("Is this reply signed by the agent who wrote it?", "signature"),
    ("Is this public reply signed by the agent, with their initials or first name?", "signature"),
    ("Does this reply have a signature with the agent's initials or first name?", "signature"),
    ("Does this reply end with the agent's initials or first name (for example ^KL or -Ana)?", "signature"),
    ("Is this reply signed by a manager?", None),
    ("Does this reply have a signature (not a sign-off like thanks)?", None),
    ("Does this reply include the agent's name?", "signature"),
    ("Does this reply use the customer's name?", None),
    ("Does this reply include a link?", "link"),
    ("Does this reply contain a phone number?", "phone"),
    ("Does this reply include an email address?", "email"),
    ("Does this reply invite the customer to a private channel?", "private_channel"),
    ("Does this message ask a question?", "question"),
    ("Does this reply address the traveller personally?", "greeting"),
    ("Does this reply greet the customer by name?", "greeting"),
    ("Does this reply open with a greeting?", "greeting"),
    ("Does this reply greet the customer or use their name?", "greeting"),
    ("Does this reply address the customer's concern?", None),  # meaning, not form
    # about meaning, not form: the model judges
    ("Does this reply give a link to a help page or other next step?", None),
    ("Does this reply thank the customer by name?", None),
    ("Does this reply thank the customer?", "thanks"),
    ("Does this reply thank the customer for reaching out, patience, information, or feedback?", "thanks"),
    ("Does this reply thank the customer (thanks, thank you, we appreciate)?", "thanks"),
    ("Does this reply express gratitude to the traveller?", "thanks"),
    ("Does this reply thank the customer for their payment?", None),  # for what: meaning, the model judges
    ("Does this reply thank the customer for reaching out to us?", "thanks"),
    ("Does this reply thank the customer for getting in touch with us?", "thanks"),
    ("Does this reply thank the customer (not a sign-off like 'thanks, Sam')?", None),  # a qualification to read
    ("Does this reply thank the customer and offer more help?", None),
    ("Does this reply offer further help?", "further_help"),
    ("Does this reply leave the door open?", "further_help"),
    ("Does this reply offer further help or invite the customer to come back?", "further_help"),
    ("Does this reply invite the customer to reach out again?", "further_help"),
    ("Does this reply offer further help and give a timeframe?", None),
    ("Does this reply close the conversation on a courteous note?", "courteous_close"),
    ("Does this reply end politely?", "courteous_close"),
    ("Is this reply courteous?", None),  # courtesy throughout is meaning, not a closing formula
    ("Does this reply ask the customer to DM their password?", None),
    # a request for personal data as such, named; "publicly" or "instead of by DM" for one made in public
    ("Does this message ask for a booking reference, frequent flyer number, email address, phone number or other "
     "personal details?", "personal_data_request"),
    ("Does this reply ask for the customer's email address?", None),  # one of them: narrower than the detector
    ("Does this reply ask for a passport or card number?", None),
    ("Does this reply ask for a booking reference, frequent flyer number, email address, phone number or other "
     "personal details publicly?", "public_personal_data_request"),
    ("Does this reply ask the customer to send their order number or other personal data instead of by DM?",
     "public_personal_data_request"),
    ("Does this reply ask for a booking reference, email address or other personal details publicly rather than by "
     "DM?", "public_personal_data_request"),
    ("Does this reply have a signature (only on the final reply of a thread)?", None),  # a condition to read
    ("Does this reply ask for a booking reference or any other personal details to be posted publicly?",
     "public_personal_data_request"),
    ("Does this reply ask for personal details publicly?", None),  # which details: meaning
    ("Does this reply ask for a booking reference, personal detail, or other sensitive information?", None),
    ("Does this reply ask the traveller for their flight number?", None),  # not personal data
])
def test_only_questions_wholly_about_form_go_to_a_detector(question, detector):
    assert detector_for(question) == detector


@pytest.mark.parametrize("text", [
    "@344741 Hi Andrew, how can we help? ^Marie", "@206828 HI, Tim. According to the inventory, all seats are taken.",
    "Hello there! Sorry to hear that.", "@12 @34 Good morning, we are looking into it.",
    "@190299 We're sorry for the frustration, Mauricio. We'll have you in ORD soon.",
    "@119261 We love taking care of our Passengers, Thomas. Thanks for sharing the love. ^MR",
])
def test_greeting_replies(text):
    assert detect("greeting", text)


@pytest.mark.parametrize("text", [
    "@638452 We wouldn't be able to authorise the refund. It would be subject to their ticket rules.",
    "@382371 Were you able to fill out a baggage report? Please know our Baggage Team will help.",
    "Sorry for the wait, please DM us your booking reference.",  # no name: "please" is not one
    "We are looking into it now. Thanks, Leah",  # a sign-off closing the reply, not a greeting
    "This happens, sometimes. Sorry!",
])
def test_replies_without_a_greeting(text):
    assert not detect("greeting", text)


@pytest.mark.parametrize("text, asks, publicly", [
    ("@298372 This doesn't sound right Jeremy, can you please DM us your booking reference, email address and phone "
     "number? ^Kieran", True, False),
    ("@298372 Hi Jeremy. We'll need you're booking reference, email address and contact number to look at this for "
     "you. Please DM us the information. ^DR", True, False),  # the channel in the next sentence
    ("@119261 Ha, you're right! Please DM your Rapid Rewards # for some extra love", True, False),
    ("Please email us your order number.", True, False),
    ("Can you share your booking reference? We'll look into it 1/2", True, False),  # the channel may be in 2/2
    ("What's your confirmation number?", True, True),
    ("Can you send us your email address so we can follow up?", True, True),
    ("Can you confirm your full name and date of birth?", True, True),
    ("What is your AAdvantage number?", True, True),
    ("Let us know your postcode and we'll check.", True, True),
    ("@190299 What's your flight number? We'll take a look for you.", False, False),  # not personal data
    ("We need to address this right away.", False, False),
    ("Please send us an email at help@example.com", False, False),
    ("Can you give us more details about what happened?", False, False),
    ("Please check your email for the receipt.", False, False),
    ("Just bring the bag and your boarding pass to the baggage service office.", False, False),
    # review of the first version: a word inside another, an e-mail or address that is not asked for, a negation
    ("We need to get the issue addressed", False, False),
    ("When did you send the email?", False, False),
    ("Please provide the address of the branch", False, False),
    ("That message will appear when the account information cannot be verified.", False, False),
    ("Please don't post your booking reference here.", False, False),
    ("Can you DM your name, address & email address please?", True, False),  # a list
    ("Kindly provide us correct booking number", True, True),  # no "your"
    ("May we know your booking no", True, True),
    ("Please tweet us your booking ref", True, True),
])
def test_requests_for_personal_data_and_where_they_are_made(text, asks, publicly):
    assert detect("personal_data_request", text) is asks
    assert detect("public_personal_data_request", text) is publicly
