"""Twitter-style threads as in TweetSumm: one tweet per line, each starting with the @handles it addresses.

Customers start a thread by addressing the company, so the handles of the first tweet are the company's;
a tweet addressed to one of them is the customer's, any other tweet the agent's (who addresses the customer).
Consecutive tweets of one side form one turn; lines without a leading handle continue the tweet above.
"""

from __future__ import annotations

import re

from assistant.formats.base import FormatMismatch, Message, Parsed, Role

FORMAT = "twitter"
_LEADING_HANDLES_RE = re.compile(r"^\s*((?:@\w{1,30}\b[\s,]*)+)")


def leading_handles(line: str) -> set[str]:
    """The lower-cased @handles a line starts with (empty when it starts otherwise)."""
    m = _LEADING_HANDLES_RE.match(line)
    return {h.lower() for h in re.findall(r"@(\w+)", m.group(1))} if m else set()


def parse(lines: list[str]) -> Parsed:
    """Read tweet lines into one message per run of same-side tweets; raises FormatMismatch without handles."""
    first_no, first = next(((i, x) for i, x in enumerate(lines) if x.strip()), (0, ""))
    company = leading_handles(first)
    if not company:
        raise FormatMismatch(FORMAT, first_no + 1, first, "does not start with an @handle")
    reason = {"customer": f"addresses @{sorted(company)[0]}, the handle the thread opens with",
              "agent": "answers the customer's handle"}
    turns: list[list] = []
    for i, line in enumerate(lines):
        handles = leading_handles(line)
        if handles:
            speaker: Role = "customer" if handles & company else "agent"
            if turns and turns[-1][0] == speaker:
                turns[-1][1] += " " + line.strip()
            else:
                turns.append([speaker, line.strip(), i + 1])
        elif turns and line.strip():
            turns[-1][1] += "\n" + line.strip()
    messages = tuple(Message(text, role=role, reason=reason[role], line=n) for role, text, n in turns)
    return Parsed(FORMAT, messages)
