"""Speed of parsing a 30,000-character paste in each accepted format, against ``json.loads`` of the same turns.

    python bench/parse_speed.py [--chars 30000] [--repeat 20]

One synthetic support conversation (the same turns for every format, long enough to render to about
``--chars`` characters) is rendered as each format and parsed with ``parse_conversation`` (detection, reading,
role inference, validation). The reference, timed in the same run and interleaved with it, is ``json.loads`` of
those turns as a JSON list: the cheapest possible reading of the same content. Prints the median ms per parse
and the ratio to the reference (goal: well under 100 ms per paste).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.conversation import MAX_CHARS, parse_conversation  # noqa: E402

CUSTOMER = ["my order {n} has not arrived and the tracking page has said 'label created' for a week.",
            "I tried logging out and in again, and reinstalling the app, but it still crashes on start.",
            "Can you refund the second charge? I was billed twice for the same month, order {n}."]
AGENT = ["Sorry about that! I checked order {n}: the parcel left our warehouse yesterday and should arrive Friday.",
         "Thanks for the details. Please update to version 5.2.3, which fixes that crash on start.",
         "I can see the duplicate charge on order {n}; I have refunded it, allow 3-5 business days."]


def make_turns(chars: int) -> list[tuple[str, str, str]]:
    """(role, name, text) turns, enough for any format's rendering to reach ``chars`` characters."""
    turns, total, n = [], 0, 0
    while total < chars:
        role = "customer" if n % 2 == 0 else "agent"
        text = (CUSTOMER if role == "customer" else AGENT)[n % 3].format(n=1000 + n)
        turns.append((role, "Olivia Brown" if role == "customer" else "Sarah Lee", text))
        total += len(text)
        n += 1
    return turns


def _clock(i: int) -> str:
    return f"{9 + i // 60 % 12}:{i % 60:02d}"


def render(fmt: str, turns: list[tuple[str, str, str]]) -> str:
    """The turns as a paste in ``fmt``."""
    if fmt == "labelled":
        return "\n".join(f"{r.capitalize()}: {t}" for r, _, t in turns)
    if fmt == "chat (named, [10:32 AM])":
        return "\n".join(f"[{_clock(i)} AM] {n}: {t}" for i, (_, n, t) in enumerate(turns))
    if fmt == "whatsapp (iOS)":
        return "\n".join(f"[12/03/2024, {_clock(i)}:05] {n}: {t}" for i, (_, n, t) in enumerate(turns))
    if fmt == "whatsapp (Android)":
        return "\n".join(f"12/03/2024, {_clock(i)} - {n}: {t}" for i, (_, n, t) in enumerate(turns))
    if fmt == "twitter":
        return "\n".join(f"@AcmeHelp {t}" if r == "customer" else f"@olivia_b {t}" for r, _, t in turns)
    if fmt == "e-mail thread":
        addr = {"customer": "Olivia Brown <olivia.brown@gmail.com>", "agent": "Sarah Lee <sarah@acme.example>"}
        return "\n---\n".join(f"From: {addr[r]}\nTo: someone\nDate: Mon, 4 Mar 2024 {_clock(i)}:00 +0000\n"
                              f"Subject: Re: order\n\nHi,\n{t}\n\nBest regards,\n{n}" for i, (r, n, t) in enumerate(turns))
    if fmt == "zendesk":
        users = [{"id": 1, "name": "Olivia Brown", "role": "end-user"}, {"id": 2, "name": "Sarah Lee", "role": "agent"}]
        comments = [{"author_id": 1 if r == "customer" else 2, "plain_body": t, "public": True} for r, _, t in turns]
        return json.dumps({"comments": comments, "users": users})
    if fmt == "intercom":
        parts = [{"part_type": "comment", "body": f"<p>{t}</p>",
                  "author": {"type": "user" if r == "customer" else "admin", "name": n}} for r, n, t in turns[1:]]
        return json.dumps({"source": {"author": {"type": "user", "name": turns[0][1]}, "body": f"<p>{turns[0][2]}</p>"},
                           "conversation_parts": {"conversation_parts": parts}})
    if fmt == "freshdesk":
        conv = [{"body_text": t, "incoming": r == "customer", "private": False} for r, _, t in turns[1:]]
        return json.dumps({"description_text": turns[0][2], "conversations": conv})
    raise ValueError(fmt)


FORMATS = ("labelled", "chat (named, [10:32 AM])", "whatsapp (iOS)", "whatsapp (Android)", "e-mail thread",
           "twitter", "zendesk", "intercom", "freshdesk")


#: Pastes built to make regular expressions backtrack (lines of spaces between optional parts); each once took
#: seconds before the speaker patterns were anchored on non-space characters.
ADVERSARIAL = {
    "spaces": "Customer: hi\n" + (" " * 59 + "x\n") * 500 + "Agent: ok",
    "capitals": "Customer: hi\n" + ("Aa " * 25 + "- \n") * 500 + "Agent: ok",
    "WhatsApp blanks": "[12/03/2024, 10:31:47] A: hi\n" + ("[12/03/2024, 10:31:47] " + " " * 59 + "x\n") * 500,
}


def fit(fmt: str, turns: list[tuple[str, str, str]], chars: int) -> list[tuple[str, str, str]]:
    """The shortest prefix of ``turns`` whose rendering in ``fmt`` has at least ``chars`` characters."""
    lo, hi = 2, len(turns)
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if len(render(fmt, turns[:mid])) < chars else (lo, mid)
    return turns[:lo]


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn`` in milliseconds over ``repeat`` calls (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    """Time every format and print ms per parse and the ratio to json.loads of the same turns."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, default=30_000, help="approximate length of each paste")
    parser.add_argument("--repeat", type=int, default=20, help="timed parses per format")
    args = parser.parse_args()
    pool = make_turns(args.chars)
    print("reference: json.loads of the same turns as a JSON list of {role, content}")
    print(f"{'format':<28}{'chars':>8}{'turns':>7}{'ms/parse':>10}{'json.loads ms':>15}{'ratio':>8}")
    worst = 0.0
    for fmt in FORMATS:
        turns = fit(fmt, pool, args.chars)
        text = render(fmt, turns)
        reference_text = json.dumps([{"role": r, "content": t} for r, _, t in turns])
        conv = parse_conversation(text, max_chars=MAX_CHARS)
        ours = median_ms(lambda: parse_conversation(text, max_chars=MAX_CHARS), args.repeat)
        ref = median_ms(lambda: json.loads(reference_text), args.repeat)
        worst = max(worst, ours)
        print(f"{fmt:<28}{len(text):>8,}{len(conv.turns):>7}{ours:>10.2f}{ref:>15.3f}{ours / ref:>8.0f}x")
    for name, text in ADVERSARIAL.items():
        ours = median_ms(lambda: parse_conversation(text, max_chars=MAX_CHARS, require_both=False), 3)
        worst = max(worst, ours)
        print(f"{'worst case: ' + name:<28}{len(text):>8,}{'':>7}{ours:>10.2f}")
    print(f"slowest: {worst:.1f} ms per paste of about {args.chars:,} characters (goal: well under 100 ms)")


if __name__ == "__main__":
    main()
