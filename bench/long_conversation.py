"""A long support chat for measuring long-conversation summaries and audits: TweetSumm test dialogs, in file order,
as one ``Customer:`` / ``Agent:`` transcript of about ``--chars`` characters (whole dialogs only; deterministic).

    python bench/long_conversation.py --chars 60000 > /tmp/long_chat.txt
    time python -m supportlens summarize /tmp/long_chat.txt --json
    time python -m supportlens audit /tmp/long_chat.txt --org brightline

The data folder is ``$SUPPORTLENS_TWEETSUMM`` or ``shared/data/tweetsumm`` beside the repository
(``training.tweetsumm``). The real-model test builds its chat with the same function.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def tweetsumm_chat(chars: int, data_dir: str | Path | None = None) -> str:
    """The first TweetSumm test dialogs, one after another as one transcript, while it stays within ``chars``
    characters (at least one dialog). Bot/system roles never occur: TweetSumm has a customer and an agent."""
    from training.tweetsumm import load_split

    lines: list[str] = []
    length = 0
    for conv in load_split("test", data_dir):
        text = conv.to_text()
        if lines and length + len(text) + 1 > chars:
            break
        lines.append(text)
        length += len(text) + 1
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the chat on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chars", type=int, default=60_000, help="most characters of the chat")
    parser.add_argument("--data-dir", default=None, help="TweetSumm data folder")
    args = parser.parse_args(argv)
    print(tweetsumm_chat(args.chars, args.data_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
