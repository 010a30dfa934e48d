"""Training data for the support judge: human summary sentences and their corrupted twins, labels by construction.

The support check (``assistant.support``) asks, for each sentence of a summary, whether the conversation supports
it. This module builds (sentence, conversation) pairs in exactly the form the check reads
(``assistant.support.support_pair``), from the TweetSumm **train** split only (the support check is graded on test
dialogs, ``eval/support_dev``), minus every dialog of a labelled audit set as well.

A label is never a model's opinion; it comes from how the example was made (``kind``):

- ``human`` (yes): a sentence of one of the dialog's human abstractive summaries, as written (people summarised what
  they read; a rare annotator slip is the only noise).
- ``party`` (no): the same sentence with the parties' roles exchanged ("Agent is complaining that ..." for "Customer
  is complaining that ...", "The customer asked the agent ..." for "The agent asked the customer ..."): the errors
  summaries make most (actions or words given to the wrong side). Never for something either party does (thanking,
  talking, replying), where the exchanged sentence may still be true.
- ``negation`` (no): the sentence's first auxiliary negated ("is" -> "is not", "will" -> "will not"); only sentences
  without any negation are used, never an auxiliary inside an embedded question ("asks whether it is free") and
  never "may / might / could", so the result contradicts what the annotator read.
- ``invented`` (no): an action or outcome appended to a real sentence or stated alone ("The agent offered a full
  refund.") that the conversation cannot hold: each comes with a lexicon, and it is used only on conversations where
  the lexicon finds nothing (no refund word anywhere, no escalation word, ...).
- ``detail`` (no): a number in the sentence changed, or a capitalised name replaced by one from another dialog's
  summaries; kept only if the new number or name appears nowhere in the conversation.
- ``elsewhere`` (no): a summary sentence of another dialog about the same party with at least four content words,
  kept only if under a quarter of them occur in this conversation (compared on their first five letters), and never
  a stock sentence about thanking or replying that could be true anywhere.

No negative is ever one of the dialog's own summary sentences.

Answers are balanced yes / no; the negative kinds share the no side in turn. Validation examples come from dialogs
never trained on. Generated data trains and selects checkpoints; it never grades: the check's quality is measured on
hand-labelled sentences by ``eval.support``.

    python -m training.support_data --out runs/support-data   # writes train/valid jsonl + data card
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from assistant.conversation import Conversation
from assistant.support import split_sentences, support_pair
from training.judge_data import split_dialogs, write_splits

KINDS = ("human", "party", "negation", "invented", "detail", "elsewhere")
NEGATIVE_KINDS = KINDS[1:]

GUARANTEES = {
    "human": "a sentence of the dialog's own human abstractive summary, as written",
    "party": "the parties' roles exchanged (never for an action either party does: thanking, talking, replying)",
    "negation": "the first auxiliary of a sentence without any negation (not in an embedded question), negated",
    "invented": "an action or outcome whose lexicon finds nothing in the conversation, appended or stated alone",
    "detail": "a number or capitalised name replaced by one that occurs nowhere in the conversation",
    "elsewhere": "another dialog's sentence about the same party: 4+ content words, under a quarter of them here",
}


@dataclass(frozen=True)
class SupportExample:
    """One summary sentence against its conversation; ``first`` and ``second`` are the text pair the judge reads.
    ``rule_type`` is the example's kind (the name the trainer reports per)."""

    conversation_id: str
    rule_type: str
    sentence: str
    label: str  # yes | no
    first: str
    second: str

    def to_dict(self) -> dict:
        """JSON-serialisable form (one line of a written split)."""
        return asdict(self)


# --- corruptions of one sentence -------------------------------------------------------------------------------

_PARTY = re.compile(r"\b(customer|agent)\b", re.I)
_BOTH_TOGETHER = re.compile(r"\b(?:customer|agent)s?\s+and\s+(?:the\s+)?(?:customer|agent)s?\b", re.I)
_NEGATION = re.compile(r"\b(?:not|no|never|nothing|none|nobody|cannot|without|unable|\w+n't)\b", re.I)
_AUXILIARY = re.compile(r"\b(is|are|was|were|will|can|would|should|has|have|had|does|did|must)\b", re.I)
_EMBEDDED = re.compile(r"\b(?:if|whether|when|why|how|what|which|where|who)\b", re.I)  # "asks if he is eligible"
#: Actions either party does: giving one to the other party may still be true.
_BOTH_DO = re.compile(r"\b(?:thank\w*|greet\w*|talk\w*|discuss\w*|chat\w*|convers\w*|communicat\w*|interact\w*|"
                      r"welcom\w*|respond\w*|repl\w*)", re.I)
_MIN_CONTENT_WORDS = 4
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.]\d)")
_NAME = re.compile(r"(?<=[a-z,] )[A-Z][a-zA-Z]{2,}\b")
_NOT_NAMES = {"Customer", "Agent", "The", "They", "He", "She", "DM", "This", "That", "It", "I", "Also", "And", "But"}
_WORD = re.compile(r"[a-z]{4,}")
_STOP = {"customer", "agent", "that", "this", "with", "they", "their", "them", "have", "from", "about", "will",
         "would", "asked", "says", "said", "told", "informed", "updated", "states", "stated", "complaining", "also",
         "there", "when", "which", "what", "been", "were", "into", "some", "more", "issue", "regarding", "provide",
         "requested", "requesting", "asking", "suggested", "further", "other", "able", "could", "should"}

#: (statement alone, clause appended to a sentence, lexicon that must find nothing in the conversation)
INVENTED = (
    ("The agent offered the customer a full refund.", "and the agent offered a full refund",
     r"refund|money back|reimburs|compensat|credit|voucher"),
    ("The agent promised to call the customer back tomorrow.", "and the agent promised a call back tomorrow",
     r"\bcall|phone|ring|tomorrow"),
    ("The agent escalated the case to a supervisor.", "and the agent escalated it to a supervisor",
     r"escalat|supervisor|manager|senior|specialist"),
    ("The customer said the problem was fixed and thanked the agent.", "and the customer confirmed it was fixed",
     r"thank|thx|fixed|solved|resolved|work|sorted|great|perfect"),
    ("The agent sent the customer a replacement.", "and the agent sent a replacement",
     r"replac|send|sent|ship|new one|exchange"),
    ("The customer cancelled their account.", "and the customer cancelled their account",
     r"cancel|close|leav|terminat|quit"),
    ("The agent said the outage was caused by a storm.", "because of a storm, the agent said",
     r"storm|weather|outage|wind|rain|snow"),
    ("The customer asked to speak to a manager.", "and the customer demanded a manager",
     r"manager|supervisor|speak to|complain"),
)


def swap_party(sentence: str, rng: random.Random | None = None) -> str | None:
    """The sentence with the parties' roles exchanged ("The agent asked the customer for ..." -> "The customer asked
    the agent for ..."), or None when it names no party, names them together ("customer and agent"), or tells of
    something either party does (thanking, talking: the exchanged sentence may still be true)."""
    if not _PARTY.search(sentence) or _BOTH_TOGETHER.search(sentence) or _BOTH_DO.search(sentence):
        return None
    other = {"customer": "agent", "agent": "customer"}

    def repl(m: re.Match) -> str:
        word = other[m.group(1).lower()]
        return word.capitalize() if m.group(1)[0].isupper() else word

    out = _PARTY.sub(repl, sentence)
    return out if out != sentence else None


def negate(sentence: str) -> str | None:
    """The sentence with its first auxiliary negated; None when it already holds a negation, has no auxiliary, or
    that auxiliary sits in an embedded question ("asks whether it is free": negated, still what was asked). Modal
    "may / might / could" are never used: their negation can be as true as the sentence."""
    if _NEGATION.search(sentence):
        return None
    m = _AUXILIARY.search(sentence)
    if not m or _EMBEDDED.search(sentence[:m.start()]):
        return None
    word = m.group(1)
    negated = "cannot" if word.lower() == "can" else f"{word} not"
    if word[0].isupper():
        negated = negated[0].upper() + negated[1:]
    return sentence[:m.start()] + negated + sentence[m.end():]


def invent(sentence: str, conversation_text: str, rng: random.Random) -> str | None:
    """An invented action or outcome the conversation cannot hold, appended to ``sentence`` or stated alone."""
    usable = [i for i in INVENTED if not re.search(i[2], conversation_text, re.I)]
    if not usable:
        return None
    alone, clause, _ = rng.choice(usable)
    if rng.random() < 0.5:
        return alone
    return f"{sentence.rstrip(' .')}, {clause}."


def change_detail(sentence: str, conversation_text: str, names: Sequence[str], rng: random.Random) -> str | None:
    """A number or a capitalised name of the sentence replaced by one the conversation never mentions."""
    lower = conversation_text.lower()
    numbers = list(_NUMBER.finditer(sentence))
    if numbers:
        m = rng.choice(numbers)
        value = m.group(0)
        for _ in range(10):
            new = str(int(float(value)) + rng.choice((-3, -2, -1, 1, 2, 3, 5, 10))) if "." not in value else \
                f"{float(value) + rng.choice((-1.5, -0.5, 0.5, 1.5)):.2f}"
            if new != value and not new.startswith("-") and not re.search(rf"(?<!\d){re.escape(new)}(?!\d)", lower):
                return sentence[:m.start()] + new + sentence[m.end():]
    candidates = [m for m in _NAME.finditer(sentence) if m.group(0) not in _NOT_NAMES]
    if candidates and names:
        m = rng.choice(candidates)
        for _ in range(10):
            new = rng.choice(names)
            if new.lower() not in lower and new != m.group(0):
                return sentence[:m.start()] + new + sentence[m.end():]
    return None


def content_words(text: str) -> set[str]:
    """Lower-case words of four letters or more that carry content (for the ``elsewhere`` overlap test)."""
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def party_of(sentence: str) -> str | None:
    """The party a sentence is about (its first mention), or None."""
    m = _PARTY.search(sentence)
    return m.group(1).lower() if m else None


# --- examples ----------------------------------------------------------------------------------------------------

def human_sentences(conv: Conversation) -> list[str]:
    """Every sentence of the dialog's human abstractive summaries (deduplicated, in order)."""
    out = []
    for summary in conv.meta.get("abstractive_summaries", []):
        out += split_sentences(summary)
    return list(dict.fromkeys(s for s in out if len(s) > 12))


def _conversation_text(conv: Conversation) -> str:
    return " ".join(t.text for t in conv.turns)


def corrupt(kind: str, sentence: str, conv: Conversation, pool: Sequence[tuple[str, str]], names: Sequence[str],
            rng: random.Random) -> str | None:
    """A sentence of ``kind`` (a negative kind) made from ``sentence`` for ``conv``, or None when it cannot be."""
    text = _conversation_text(conv)
    if kind == "party":
        return swap_party(sentence)
    if kind == "negation":
        return negate(sentence)
    if kind == "invented":
        return invent(sentence, text, rng)
    if kind == "detail":
        return change_detail(sentence, text, names, rng)
    if kind == "elsewhere":
        party = party_of(sentence)
        here = {w[:5] for w in content_words(text)}  # a crude stem: "assist" finds "assistance"
        for _ in range(20):
            cid, other = rng.choice(pool)
            words = {w[:5] for w in content_words(other)}
            if cid != conv.conversation_id and party_of(other) == party and len(words) >= _MIN_CONTENT_WORDS and \
                    not _BOTH_DO.search(other) and len(words & here) / len(words) < 0.25:
                return other
        return None
    raise ValueError(f"unknown kind {kind!r}")


def build_examples(convs: Sequence[Conversation], n: int, seed: int = 0) -> list[SupportExample]:
    """``n`` examples, answers alternating yes / no (balanced), negative kinds in turn, dialogs drawn at random;
    ``elsewhere`` and ``detail`` draw from the same dialogs' summaries only (a split never borrows another's)."""
    rng = random.Random(seed)
    convs = [c for c in convs if human_sentences(c)]
    pool = [(c.conversation_id, s) for c in convs for s in human_sentences(c)]
    names = sorted({m.group(0) for _, s in pool for m in _NAME.finditer(s) if m.group(0) not in _NOT_NAMES})
    out: list[SupportExample] = []
    for i in range(n):
        kind = "human" if i % 2 == 0 else NEGATIVE_KINDS[(i // 2) % len(NEGATIVE_KINDS)]
        for _ in range(200):
            conv = rng.choice(convs)
            own = human_sentences(conv)
            sentence = rng.choice(own)
            made = sentence if kind == "human" else corrupt(kind, sentence, conv, pool, names, rng)
            if made and (kind == "human" or made not in own):  # a no is never one of the dialog's own sentences
                first, second = support_pair(conv, made)
                out.append(SupportExample(conv.conversation_id, kind, made, "yes" if kind == "human" else "no",
                                          first, second))
                break
        else:
            raise ValueError(f"no {kind} example could be made from these {len(convs)} dialogs: give more dialogs")
    rng.shuffle(out)
    return out


def build_splits(convs: Sequence[Conversation], n_train: int, n_valid: int, seed: int = 0
                 ) -> dict[str, list[SupportExample]]:
    """train / valid examples on disjoint dialogs (the audit judge's dialog split, same seed)."""
    train_convs, valid_convs = split_dialogs(convs, seed=seed)
    return {"train": build_examples(train_convs, n_train, seed), "valid": build_examples(valid_convs, n_valid, seed + 1)}


def data_card(splits: dict[str, list[SupportExample]], seed: int) -> str:
    """The data card: how each kind's label is guaranteed, and the counts."""
    lines = ["# Support judge training data (labels by construction)", "",
             f"Built by `python -m training.support_data` (seed {seed}) from TweetSumm **train** dialogs, minus every "
             "dialog of a labelled audit set; the support check is graded on test dialogs (`eval/support_dev`). "
             "Validation examples come from dialogs never used for training. Generated data trains and selects "
             "checkpoints; it never grades (quality is measured on hand-labelled sentences by `eval.support`).", "",
             "| kind | label | how the label is guaranteed | split | examples |", "|---|---|---|---|---|"]
    for kind in KINDS:
        for split, examples in splits.items():
            count = Counter(e.rule_type for e in examples)[kind]
            if count:
                lines.append(f"| {kind} | {'yes' if kind == 'human' else 'no'} | {GUARANTEES[kind]} | {split} | {count} |")
    return "\n".join(lines + [""])


def main(argv: list[str] | None = None) -> int:
    """``python -m training.support_data --out DIR [--train N --valid N --seed S]``."""
    parser = argparse.ArgumentParser(description="Build the support judge's training data (labels by construction).")
    parser.add_argument("--out", default="runs/support-data")
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--valid", type=int, default=400)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    from training.tweetsumm import load_split

    splits = build_splits(load_split("train", args.data_dir), args.train, args.valid, args.seed)
    write_splits(splits, Path(args.out), data_card(splits, args.seed))
    print(f"wrote {', '.join(f'{k} {len(v)}' for k, v in splits.items())} examples and DATA_CARD.md to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
