"""Score the audit against hand-labelled verdicts: per-verdict precision/recall, macro-F1, evidence, retrieval.

    python -m eval.audit                                            # our dev set, the sample playbook, default model
    python -m eval.audit --labels my-labels.jsonl --guidelines my-playbook.md --model qwen2.5-coder-1.5b-instruct
    python -m eval.audit --limit 5 --out runs/audit/quick
    python -m eval.audit --limit 5 --out runs/audit/quick --resume   # go on after an interruption
    python -m eval.audit --judge model --model qwen2.5-coder-1.5b-instruct   # a language model answers the checks
    python -m eval.audit --config configs/default.yaml --yes-bias 0.3 --scorer yes_no

A labels file has one JSON object per line: ``conversation_id`` (a TweetSumm dialog, read from the data folder)
or the conversation itself (``turns``: [{"speaker", "text"}] or ``conversation``: pasted text), and
``labels``: {rule_id: followed | violated | not_applicable}. The guidelines are indexed into a fresh
knowledge base in the run folder. A rule the retriever did not return counts as ``not_applicable`` (the audit
judged it irrelevant); an ``undetermined`` finding counts as wrong.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from assistant.audit import UNDETERMINED, VERDICTS, AuditReport
from assistant.config import AssistantConfig, load_config
from assistant.clauses import Check
from assistant.conversation import Conversation, from_turns, parse_conversation
from assistant.errors import ConfigError, SupportLensError

REPO = Path(__file__).resolve().parents[1]
DEV_LABELS = REPO / "eval" / "audit_dev" / "brightline-dev.jsonl"
SAMPLE_GUIDELINES = REPO / "knowledge_base" / "samples" / "brightline-social-care-playbook.md"


def portable(path: str | Path) -> str:
    """``path`` relative to the repository when it lies inside it (results then read the same on any clone)."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def load_labels(path: str | Path, data_dir: str | None = None) -> list[tuple[Conversation, dict[str, str]]]:
    """(conversation, {rule_id: verdict}) pairs from a labels file; TweetSumm ids are looked up in every split."""
    path = Path(path) if Path(path).is_absolute() or Path(path).exists() else REPO / path
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    wanted = {r["conversation_id"] for r in records if "turns" not in r and "conversation" not in r}
    by_id: dict[str, Conversation] = {}
    if wanted:
        from training.tweetsumm import find_dialogs

        by_id = find_dialogs(wanted, data_dir)
    out = []
    for i, r in enumerate(records, start=1):
        labels = r.get("labels") or {}
        bad = {k: v for k, v in labels.items() if v not in VERDICTS}
        if bad:
            raise SupportLensError(f"{path}, line {i}: unknown verdicts {bad}; use {', '.join(VERDICTS)}")
        if "turns" in r:
            conv = from_turns(r["turns"], r.get("conversation_id"))
        elif "conversation" in r:
            conv = parse_conversation(r["conversation"])
        elif r.get("conversation_id") in by_id:
            conv = by_id[r["conversation_id"]]
        else:
            raise SupportLensError(f"{path}, line {i}: conversation {r.get('conversation_id')!r} not found in TweetSumm")
        out.append((conv, labels))
    return out


def score(gold: list[str], pred: list[str]) -> dict:
    """Per-verdict precision/recall/F1, macro-F1 over the verdicts present in gold, accuracy, confusion counts."""
    classes = [v for v in VERDICTS if v in gold]
    per = {}
    for v in classes:
        tp = sum(g == v and p == v for g, p in zip(gold, pred))
        n_pred, n_gold = sum(p == v for p in pred), sum(g == v for g in gold)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per[v] = {"precision": precision, "recall": recall, "f1": f1, "support": n_gold, "predicted": n_pred}
    confusion = {g: {p: sum(a == g and b == p for a, b in zip(gold, pred)) for p in (*VERDICTS, UNDETERMINED)} for g in classes}
    return {"per_verdict": per, "macro_f1": statistics.mean(x["f1"] for x in per.values()) if per else 0.0,
            "accuracy": sum(g == p for g, p in zip(gold, pred)) / len(gold) if gold else 0.0, "confusion": confusion, "n": len(gold)}


def _rule_order(rule_id: str) -> tuple:
    """G2 before G10, 1.2 before 4.1."""
    return tuple(int(x) if x.isdigit() else 0 for x in re.sub(r"^[A-Z§ ]+-?", "", rule_id).split("."))


def _bootstrap_interval(golds: list[list[str]], statistic: Callable[[list[int]], float], n: int, seed: int) -> list[float]:
    """95% percentile interval of ``statistic`` over conversations resampled with replacement (a conversation's
    verdicts move together); ``statistic`` gets the indices of one resample."""
    import random

    rng = random.Random(seed)
    values = sorted(statistic([rng.randrange(len(golds)) for _ in golds]) for _ in range(n))
    return [round(values[int(0.025 * n)], 3), round(values[int(0.975 * n) - 1], 3)]


def _macro_f1_of(golds: list[list[str]], preds: list[list[str]], picks: list[int]) -> float:
    return score([g for i in picks for g in golds[i]], [p for i in picks for p in preds[i]])["macro_f1"]


def bootstrap_macro_f1(golds: list[list[str]], preds: list[list[str]], n: int = 1000, seed: int = 0) -> list[float]:
    """95% interval of macro-F1, resampling conversations."""
    return _bootstrap_interval(golds, lambda picks: _macro_f1_of(golds, preds, picks), n, seed)


def bootstrap_difference(golds: list[list[str]], new: list[list[str]], old: list[list[str]], n: int = 1000,
                         seed: int = 0) -> list[float]:
    """95% interval of macro-F1(new) - macro-F1(old) on the same conversations, resampled together (paired)."""
    return _bootstrap_interval(golds, lambda picks: _macro_f1_of(golds, new, picks) - _macro_f1_of(golds, old, picks),
                               n, seed)


def evaluate_reports(items: list[tuple[Conversation, dict[str, str]]], reports: list[AuditReport]) -> dict:
    """Verdict scores, evidence statistics and retrieval recall of finished audits against their labels."""
    gold, pred, per_rule = [], [], {}
    golds, preds, na_rule = [], [], {}
    retrieved_applicable = applicable = 0
    quotes = verbatim = violations = violations_verbatim = violations_absence = 0
    for (conv, labels), report in zip(items, reports, strict=True):
        found = {f.rule_id: f for f in report.findings}
        golds.append([])
        preds.append([])
        for rule_id, verdict in labels.items():
            p = found[rule_id].verdict if rule_id in found else "not_applicable"
            gold.append(verdict)
            pred.append(p)
            golds[-1].append(verdict)
            preds[-1].append(p)
            per_rule.setdefault(rule_id, []).append(p == verdict)
            na_rule.setdefault(rule_id, []).append(verdict == "not_applicable")
            if verdict != "not_applicable":
                applicable += 1
                retrieved_applicable += rule_id in found
        for f in report.findings:
            if f.evidence_status != "none":
                quotes += 1
                verbatim += f.evidence_status in ("verbatim", "absence")  # both quote a message as written
            if f.verdict == "violated":
                violations += 1
                violations_verbatim += f.evidence_status == "verbatim"  # the quote shows the violation
                violations_absence += f.evidence_status == "absence"  # the closest message, for what no message does
    return {
        "verdicts": score(gold, pred),
        "macro_f1_interval": bootstrap_macro_f1(golds, preds) if golds else None,
        "violations_with_verbatim_evidence": violations_verbatim / violations if violations else None,
        # the violation rests on an absence and the quote is the closest message (not counted above)
        "violations_resting_on_absence": violations_absence / violations if violations else None,
        "accuracy_per_rule": {r: sum(v) / len(v) for r, v in sorted(per_rule.items(), key=lambda kv: _rule_order(kv[0]))},
        # what answering "not applicable" everywhere would score on each rule: the floor no rule should fall below
        "all_not_applicable_per_rule": {r: sum(v) / len(v) for r, v in sorted(na_rule.items(), key=lambda kv: _rule_order(kv[0]))},
        "evidence": {"quotes": quotes, "verbatim": verbatim, "verbatim_rate": verbatim / quotes if quotes else None},
        "retrieval_recall": retrieved_applicable / applicable if applicable else None,
        "undetermined": sum(p == UNDETERMINED for p in pred),
    }


def retrieval_recall_at(items: list[tuple[Conversation, dict[str, str]]], retriever, ks=(1, 3, 5, 8)) -> dict[str, float]:  # noqa: ANN001
    """For each labelled rule that applies (followed or violated), whether retrieval ranks it in the top k."""
    from assistant.cleaning import clean_conversation

    hits = {k: 0 for k in ks}
    total = 0
    for conv, labels in items:
        ranked = [p.rule_id for p in retriever.retrieve(clean_conversation(conv).to_text() or conv.to_text(), max(ks))]
        for rule_id, verdict in labels.items():
            if verdict == "not_applicable":
                continue
            total += 1
            for k in ks:
                hits[k] += rule_id in ranked[:k]
    return {str(k): hits[k] / total for k in ks} if total else {}


def selection_recall_at(items: list[tuple[Conversation, dict[str, str]]], auditor, ks=(1, 3, 5, 8)) -> dict[str, float]:  # noqa: ANN001
    """For each labelled rule that applies, whether the audit would judge it with ``k`` triggered rules per audit:
    rules that always apply are always judged, triggered ones when ranked in the top k (``Auditor.rank_triggered``:
    retrieval plus the compiled trigger)."""
    from assistant.cleaning import clean_conversation

    hits = {k: 0 for k in ks}
    total = 0
    for conv, labels in items:
        passages = auditor.retriever.retrieve(clean_conversation(conv).to_text() or conv.to_text(), max(ks))
        always, ranked = auditor.rank_triggered(conv, passages)
        for rule_id, verdict in labels.items():
            if verdict == "not_applicable":
                continue
            total += 1
            for k in ks:
                hits[k] += rule_id in always or rule_id in ranked[:k]
    return {str(k): hits[k] / total for k in ks} if total else {}


def redetected(checks: list[dict], conv: Conversation) -> list[dict]:
    """A finding's recorded checks as today's plans would answer them: a check whose question a detector now takes
    (``assistant.plans.detected``) is answered again by it from the conversation's text (exact: a detector is a pure
    function of one message), so a run re-decided after a detector changed or was added needs no model either."""
    from assistant.clauses import as_question
    from assistant.detectors import detect, detector_for

    out = []
    for c in checks:
        question = c["statement"] if c["statement"].endswith("?") else as_question(c["statement"]) or ""
        name = detector_for(question) if c["per_turn"] and not c.get("generic") else None
        if name:
            c = {**c, "detector": name, "per_turn": {t: float(detect(name, conv.turns[int(t)].text)) for t in c["per_turn"]}}
        out.append(c)
    return out


def detected_trail(checks: tuple[Check, ...] | list[Check], conv: Conversation) -> list[dict]:
    """The trail an audit records for ``checks`` (``CheckResult.to_dict``), each of which a detector answers (the
    caller makes sure), answered from the conversation's text alone. Where no message is in a check's
    scope (no agent reply), nothing shows what it asks: a trigger finds the rule not applicable, "no reply may" and
    "every reply" hold, "a reply" does not (an audit would ask the model of the whole conversation there)."""
    from assistant.audit import turns_in_scope
    from assistant.detectors import detect
    from assistant.judge import aggregate

    trail = []
    for c in checks:
        per_turn = {t: float(detect(c.detector, conv.turns[t].text)) for t in turns_in_scope(conv, c)}
        # no message in scope: "none of them" and "every one of them" hold, "one of them" does not
        empty = 1.0 if c.scope in ("none", "all") else 0.0
        trail.append({"verdict": c.verdict, "scope": c.scope, "statement": c.statement, "generic": c.generic,
                      "detector": c.detector, "p": aggregate(c.scope, list(per_turn.values())) if per_turn else empty,
                      "per_turn": {str(t): p for t, p in per_turn.items()},
                      "conversation_p": None if per_turn else empty})
    return trail


def with_overrides(result: dict, items: list[tuple[Conversation, dict[str, str]]], overrides: dict[str, dict]) -> dict:
    """A finished run as if the manager's ``overrides`` ({rule_id: spec}) had been set before it: each overridden
    rule's checks answered from the text (``detected_trail``), so no model runs. Raises InvalidSpec for a spec that
    cannot be used, and ConfigError naming a rule whose override needs the model (a check no detector answers):
    that one needs a run with ``--overrides``."""
    from assistant.plans import Spec, from_spec

    plans = {r: from_spec(r, "", "", Spec.from_dict(spec), "override")
             for r, spec in overrides.items() if not r.startswith("_")}
    unknown = sorted(set(plans) - set(result["compile"]["plans"]))
    if unknown:
        raise ConfigError(f"no rule {', '.join(unknown)} in that run (its rules: {', '.join(result['compile']['plans'])})")
    needs_model = [r for r, plan in plans.items() if not all(c.detector for c in plan.checks)]
    if needs_model:
        raise ConfigError(f"the override of rule {', '.join(needs_model)} asks the model (a check no detector answers): "
                          "audit again with --overrides instead of re-deciding")
    reports = []
    for report, (conv, _) in zip(result["reports"], items, strict=True):
        trail = [t for t in report["trail"] if t["rule_id"] not in plans]
        trail += [{"rule_id": r, "checks": detected_trail(plan.checks, conv)} for r, plan in plans.items()]
        # the run's verdicts stay (the re-decided report compares with them); its evidence was another plan's
        findings = [{**f, "evidence_status": None} if f["rule_id"] in plans else f for f in report["findings"]]
        reports.append({**report, "trail": trail, "findings": findings})
    compiled = dict(result["compile"]["plans"])
    compiled.update({r: {"origin": "override", "plan": plan.describe(), "note": "", "key": ""} for r, plan in plans.items()})
    return {**result, "reports": reports, "compile": {**result["compile"], "plans": compiled}}


def redecided_metrics(result: dict, items: list[tuple[Conversation, dict[str, str]]], bias: float,
                      many: float | None = None, trigger: float | None = None) -> dict:
    """Verdict scores and accuracy per rule of a finished run re-decided under yes-bias ``bias``, many-bias ``many``
    and trigger bias ``trigger`` (defaults: the run's) with no model run: every check's probabilities are in the
    trail, and detectors answer again from the text (``redetected``). Exact at or above the run's trigger bias, and
    at or above its yes- and many-bias for triggers asked of messages (a not-applicable clause asked of the whole
    conversation holds less often as the yes-bias grows); elsewhere, a rule whose trigger held the run back from
    asking its requirement stays not applicable."""
    from assistant.judge import redecide

    many = result.get("many_bias", 0.0) if many is None else many
    trigger = result.get("trigger_bias", 0.0) if trigger is None else trigger  # runs before it existed: none

    golds, preds, runs, per_rule = [], [], [], {}
    statuses: list[str | None] = []  # the run's evidence of each re-decided violation (None: the run found none)
    for report, (conv, labels) in zip(result["reports"], items, strict=True):  # the run audited them in this order
        checks = {t["rule_id"]: redetected(t["checks"], conv) if t.get("checks") else None for t in report["trail"]}
        found = {f["rule_id"]: f["verdict"] for f in report["findings"]}
        status = {f["rule_id"]: f.get("evidence_status") for f in report["findings"] if f["verdict"] == "violated"}
        golds.append(list(labels.values()))
        preds.append([redecide(checks[r], bias, many, trigger)[0] if checks.get(r) else found.get(r, "not_applicable")
                      for r in labels])
        runs.append([found.get(r, "not_applicable") for r in labels])
        for rule_id, verdict, p in zip(labels, golds[-1], preds[-1]):
            per_rule.setdefault(rule_id, []).append(p == verdict)
            if p == "violated":
                statuses.append(status.get(rule_id))
    gold, pred = [g for c in golds for g in c], [p for c in preds for p in c]
    # a violation keeps its evidence when the run found it too and the yes- and many-bias, which choose the quoted
    # message, are the run's (a trigger bias only takes violations away); otherwise the shares are unknown
    same = bias == result.get("yes_bias", 0.0) and many == result.get("many_bias", 0.0)
    known = same and bool(statuses) and None not in statuses
    return {"verdicts": score(gold, pred), "undetermined": sum(p == UNDETERMINED for p in pred),
            "accuracy_per_rule": {r: sum(v) / len(v) for r, v in per_rule.items()},
            "violations_with_verbatim_evidence": statuses.count("verbatim") / len(statuses) if known else None,
            "violations_resting_on_absence": statuses.count("absence") / len(statuses) if known else None,
            "golds": golds, "preds": preds, "run_preds": runs}


MANY_BIASES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0)
TRIGGER_BIASES = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


def sweep_yes_bias(result: dict, items: list[tuple[Conversation, dict[str, str]]],
                   biases: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(-5, 21)),
                   manys: tuple[float, ...] = MANY_BIASES) -> list[dict]:
    """Macro-F1 and accuracy of a finished run re-decided under each yes-bias and many-bias (no model run)."""
    rows = []
    for bias in biases:
        for many in manys:
            v = redecided_metrics(result, items, bias, many)["verdicts"]
            rows.append({"yes_bias": bias, "many_bias": many, "macro_f1": v["macro_f1"], "accuracy": v["accuracy"]})
    return rows


def render(result: dict) -> str:
    """A short Markdown report of an audit evaluation."""
    v = result["metrics"]["verdicts"]
    lines = [f"# Audit evaluation: {result['n_conversations']} conversations x {result['n_rules']} rules ({v['n']} labels)", "",
             f"Model `{result['model']}`, scorer {result.get('scorer', 'auto')}, yes-bias {result.get('yes_bias', 0.0)}, many-bias {result.get('many_bias', 0.0)}, trigger bias {result.get('trigger_bias', 0.0)}"
             f", k={result['k']}, median {result['median_audit_s']:.1f} s per audit "
             f"({result['total_s']:.0f} s in all).", "",
             "| verdict | precision | recall | F1 | support | predicted |", "|---|---|---|---|---|---|"]
    lines += [f"| {k} | {x['precision']:.3f} | {x['recall']:.3f} | {x['f1']:.3f} | {x['support']} | {x['predicted']} |"
              for k, x in v["per_verdict"].items()]
    m = result["metrics"]
    ev = m["evidence"]
    interval = m.get("macro_f1_interval")
    lines += ["", f"**Macro-F1 {v['macro_f1']:.3f}**" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")
              + f", accuracy {v['accuracy']:.3f}, undetermined {m['undetermined']}.",
              f"Evidence: {ev['verbatim']} of {ev['quotes']} quotes verbatim"
              + (f" ({ev['verbatim_rate']:.0%})." if ev["verbatim_rate"] is not None else "."),
              f"Retrieval recall of applicable rules at k={result['k']}: "
              + (f"{m['retrieval_recall']:.3f}." if m["retrieval_recall"] is not None else "n/a."), "",
              "Retrieval recall of applicable rules at smaller k (chunks, the preamble included): "
              + ", ".join(f"@{k} {v:.2f}" for k, v in result.get("retrieval_recall_at", {}).items()), "",
              *(["Applicable rules judged with k triggered rules per audit (always-apply rules, plus triggered ones "
                 "ranked by retrieval and their compiled trigger): "
                 + ", ".join(f"@{k} {v:.2f}" for k, v in result["selection_recall_at"].items()), ""]
                if result.get("selection_recall_at") else []),
              "Accuracy per rule: " + ", ".join(f"{r} {a:.2f}" for r, a in m["accuracy_per_rule"].items()), "",
              *(["All-not-applicable baseline per rule: " + ", ".join(
                  f"{r} {a:.2f}" + (" (audit below it)" if m["accuracy_per_rule"][r] < a else "")
                  for r, a in m["all_not_applicable_per_rule"].items()), ""] if m.get("all_not_applicable_per_rule") else []),
              *([f"Violations found with verbatim evidence: {m['violations_with_verbatim_evidence']:.0%}"
                 + (f"; {m['violations_resting_on_absence']:.0%} rest on an absence, with the closest message quoted."
                    if m.get("violations_resting_on_absence") else "."), ""]
                if m.get("violations_with_verbatim_evidence") is not None else []),
              "Confusion (rows: label, columns: prediction):", "",
              "| label | " + " | ".join((*VERDICTS, UNDETERMINED)) + " |", "|---|" + "---|" * (len(VERDICTS) + 1)]
    lines += [f"| {g} | " + " | ".join(str(row[p]) for p in (*VERDICTS, UNDETERMINED)) + " |" for g, row in v["confusion"].items()]
    compiled = result.get("compile")
    if compiled:
        lines += ["", f"## Check plans ({compiled['rules']} compiled in {compiled['seconds']:.0f} s)", ""]
        for rule_id, plan in compiled["plans"].items():
            lines += [f"**{rule_id}** ({plan['origin']})", "", *(f"- {line}" for line in plan["plan"].splitlines()), ""]
    return "\n".join(lines) + "\n"


def _help(name: str) -> str:
    """The help text of an ``AssistantConfig`` field (one source for every CLI that audits)."""
    return AssistantConfig.__dataclass_fields__[name].metadata["help"]


def recorded_plans(path: str | Path) -> dict[str, dict]:
    """The plans a finished run recorded (``compile.plans`` of its results.json), or a clear error."""
    try:
        plans = json.loads(Path(path).read_text(encoding="utf-8")).get("compile", {}).get("plans")
    except (OSError, ValueError, AttributeError) as exc:
        raise SupportLensError(f"--plans-from {path}: not a readable results.json of eval.audit ({exc}).") from exc
    if not isinstance(plans, dict):
        raise SupportLensError(f"--plans-from {path}: the run records no compiled plans (compile.plans); compile "
                               "the rules instead (leave out --plans-from).")
    return plans


def replay_plans(kb, recorded: dict[str, dict]) -> list[str]:  # noqa: ANN001 - a KnowledgeBase
    """Store in ``kb`` the plans a finished run recorded for its rules (``compile.plans``: origin, words, note, key),
    rebuilt from their words (``spec_from_description``): compiling is greedy, so that is what compiling again gives
    with the same compiler, at no cost. A rule the run compiled from clauses is compiled from them again (free). A
    rule the run did not record, or whose plan it compiled from another text or by another compiler version (its
    recorded ``key``; runs before 2026-12-04 recorded none and are taken as they are), is left without a plan, to be
    compiled anew like any changed rule: returns those rules. Words that do not read back, a fallback or a manager's
    override are refused."""
    from assistant.plans import DECIDED_BY, InvalidSpec, from_clauses, from_spec, rule_key, spec_from_description

    left: list[str] = []

    def replay(rule_id: str, heading: str, text: str) -> dict | None:
        got = recorded.get(rule_id)
        if got is not None and not (isinstance(got, dict) and isinstance(got.get("plan"), str) and got.get("origin")):
            raise SupportLensError(f"Rule {rule_id}: the run's record of its plan is malformed (needs origin and plan "
                                   "words); compile it (leave out --plans-from).")
        if got is None or got.get("key", rule_key(heading, text)) != rule_key(heading, text):
            left.append(rule_id)
            return None
        if got["origin"] == "clauses":
            plan = from_clauses(rule_id, heading, text)
        elif got["origin"] == "model":
            try:
                plan = from_spec(rule_id, heading, text, spec_from_description(got["plan"]), "model",
                                 got.get("note") or "")
            except InvalidSpec as exc:
                raise SupportLensError(f"Rule {rule_id}: the run's plan does not read back ({exc}); compile it "
                                       "(leave out --plans-from).") from exc
        else:
            raise SupportLensError(f"Rule {rule_id}: the run records a {got['origin']} plan to replay; compile it "
                                   "(leave out --plans-from).")
        if plan is None or DECIDED_BY.sub("", plan.describe()) != DECIDED_BY.sub("", got["plan"]):
            raise SupportLensError(f"Rule {rule_id}: the run's plan does not read back as recorded; compile it "
                                   "(leave out --plans-from).")
        return plan.to_dict()

    kb.compile_rules(replay, rule_key)
    return left



def finished_audits(path: Path, settings: dict) -> tuple[list[AuditReport], list[float]]:
    """The audits an interrupted run wrote to ``path`` (the first of the run's conversations, in order), with their
    seconds; refused if the run's settings (labels and their conversations, guidelines, judge, biases, the plans'
    keys) differ from ``settings``: its verdicts would not be this run's."""
    if not path.is_file():
        return [], []
    try:
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        recorded = lines[0]["settings"]
        done = [(AuditReport.from_dict(line["report"]), line["seconds"]) for line in lines[1:]]
    except (json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise SupportLensError(f"{path} is not a checkpoint this tool wrote ({exc}); delete it to start again") from exc
    changed = sorted(k for k in settings.keys() | recorded.keys() if settings.get(k) != recorded.get(k))
    if changed:
        raise SupportLensError(f"{path} was written with other settings ({', '.join(changed)} differ); "
                               "drop --resume or use another --out to start again")
    return [r for r, _ in done], [s for _, s in done]


def start_checkpoint(path: Path, settings: dict, reports: list[AuditReport],
                     times: list[float]) -> Callable[[AuditReport, float], None]:
    """Write ``path`` afresh with the settings and the audits kept so far; return what appends one more audit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"settings": settings}] + [{"seconds": s, "report": r.to_dict()} for r, s in zip(reports, times, strict=True)]
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")

    def append(report: AuditReport, seconds: float) -> None:
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"seconds": seconds, "report": report.to_dict()}, ensure_ascii=False) + "\n")
    return append


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Score audits against hand-labelled verdicts.", allow_abbrev=False)  # --mode is not --model
    parser.add_argument("--labels", default=str(DEV_LABELS))
    parser.add_argument("--guidelines", nargs="+", default=[str(SAMPLE_GUIDELINES)], help="guideline files or folders")
    parser.add_argument("--config", default=None, help="YAML config whose audit settings (audit_*) apply")
    parser.add_argument("--judge", "--audit-judge", dest="audit_judge", default=None, help=_help("audit_judge"))
    parser.add_argument("--model", "--audit-model", dest="audit_model", default=None, help=_help("audit_model"))
    parser.add_argument("--adapter", "--audit-adapter", dest="audit_adapter", default=None, help=_help("audit_adapter"))
    parser.add_argument("--compile-model", dest="compile_model", default=None, help=_help("compile_model"))
    parser.add_argument("--k", "--audit-k", dest="audit_k", default=None, help=_help("audit_k"))
    parser.add_argument("--yes-bias", "--audit-yes-bias", dest="audit_yes_bias", default=None, help=_help("audit_yes_bias"))
    parser.add_argument("--many-bias", "--audit-many-bias", dest="audit_many_bias", default=None, help=_help("audit_many_bias"))
    parser.add_argument("--trigger-bias", "--audit-trigger-bias", dest="audit_trigger_bias", default=None,
                        help=_help("audit_trigger_bias"))
    parser.add_argument("--scorer", "--audit-scorer", dest="audit_scorer", default=None, help=_help("audit_scorer"))
    parser.add_argument("--calibrate", metavar="RESULTS_JSON", default=None,
                        help="re-decide a finished run under a range of yes-, many- and trigger biases and print the tables; with "
                             "--yes-bias, --many-bias or --trigger-bias, write the whole report as if run so")
    parser.add_argument("--overrides", default=None, metavar="JSON",
                        help="a manager's corrected plans ({rule_id: spec}), applied after compiling: the audit after review; "
                             "with --calibrate, a finished run re-decided with them, where detectors answer every "
                             "check of each corrected plan (no model runs)")
    parser.add_argument("--plans-from", default=None, metavar="RESULTS_JSON",
                        help="take the prose rules' plans from a finished run on the same guidelines (its recorded "
                             "plans, as today's compiler version writes them) instead of compiling them again; "
                             "a rule whose text changed since (or a new one) is compiled anew")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", default="runs/audit/dev")
    parser.add_argument("--resume", action="store_true",
                        help="go on from the audits an interrupted run with the same settings wrote to OUT/audits.jsonl "
                             "(each finished audit is written there as it ends)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, audit_judge=args.audit_judge, audit_model=args.audit_model,
                             audit_adapter=args.audit_adapter,
                             compile_model=args.compile_model,
                             audit_k=args.audit_k, audit_yes_bias=args.audit_yes_bias,
                             audit_many_bias=args.audit_many_bias, audit_trigger_bias=args.audit_trigger_bias,
                             audit_scorer=args.audit_scorer)
    except SupportLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.calibrate:
        result = json.loads(Path(args.calibrate).read_text(encoding="utf-8"))
        items = load_labels(result["labels"], args.data_dir)[: result["n_conversations"]]
        run_bias, run_many = result.get("yes_bias", 0.0), result.get("many_bias", 0.0)
        run_trigger = result.get("trigger_bias", 0.0)  # runs before the trigger bias existed had none
        unreviewed, corrected = result, []
        if args.overrides:  # rules a detector answers wholly under the manager's plan: re-decided from the text
            try:
                reviewed = json.loads(Path(args.overrides).read_text(encoding="utf-8"))
                corrected = [r for r in reviewed if not r.startswith("_")]
                result = with_overrides(result, items, reviewed)
            except (SupportLensError, OSError, ValueError) as exc:
                print(f"error: --overrides {args.overrides}: {exc}", file=sys.stderr)
                return 2
            result["overrides"] = portable(args.overrides)
        if args.overrides or any(v is not None for v in (args.audit_yes_bias, args.audit_many_bias, args.audit_trigger_bias)):
            # the whole report, as if run so
            bias = run_bias if args.audit_yes_bias is None else config.audit_yes_bias
            many = run_many if args.audit_many_bias is None else config.audit_many_bias
            trigger = run_trigger if args.audit_trigger_bias is None else config.audit_trigger_bias
            again = redecided_metrics(result, items, bias, many, trigger)
            golds, preds, runs = again.pop("golds"), again.pop("preds"), again.pop("run_preds")
            redecided = {**result, "yes_bias": bias, "many_bias": many, "trigger_bias": trigger,
                         "metrics": {**result["metrics"], "macro_f1_interval": bootstrap_macro_f1(golds, preds), **again}}
            as_run = score([g for c in golds for g in c], [p for c in runs for p in c])["macro_f1"]
            text = render(redecided) + ("\nRe-decided from the recorded probabilities (detectors answering again from "
                                        "the text) of a run with yes-bias "
                                        f"{run_bias}, many-bias {run_many}, trigger bias {run_trigger} (verdicts "
                                        "exact at or above those for triggers asked of messages; timings and quote counts "
                                        "are the run's, and so is the violations' evidence where it found them too "
                                        "at its own yes- and many-bias). Against the run's "
                                        f"own verdicts (macro-F1 {as_run:.3f}): "
                                        f"{again['verdicts']['macro_f1'] - as_run:+.3f} "
                                        f"{bootstrap_difference(golds, preds, runs)} (paired bootstrap over "
                                        "conversations).\n")
            if args.overrides:  # what the correction alone changes: the same re-decision without it
                before = redecided_metrics(unreviewed, items, bias, many, trigger)
                text += (f"\nWith the manager's corrections of `{portable(args.overrides)}` (rule {', '.join(corrected)}, "
                         "answered by detectors from the text). Against the same re-decision without them (macro-F1 "
                         f"{before['verdicts']['macro_f1']:.3f}): {again['verdicts']['macro_f1'] - before['verdicts']['macro_f1']:+.3f} "
                         f"{bootstrap_difference(golds, preds, before['preds'])} (paired bootstrap over conversations).\n")
            name = (f"report-yes-bias-{bias:+.1f}" + (f"-many-{many:.1f}" if many != run_many else "")
                    + (f"-trigger-{trigger:.2f}" if trigger != run_trigger else "")
                    + (f"-{Path(args.overrides).stem}" if args.overrides else ""))
            (Path(args.calibrate).parent / f"{name}.md").write_text(text, encoding="utf-8")
            print(text)
            return 0
        rows = sweep_yes_bias(result, items)
        exact = [r for r in rows if r["yes_bias"] >= run_bias and r["many_bias"] >= run_many] or rows
        best = max(exact, key=lambda r: (r["macro_f1"], -abs(r["yes_bias"]), -r["many_bias"]))
        table = {(r["yes_bias"], r["many_bias"]): r["macro_f1"] for r in rows}
        biases = sorted({r["yes_bias"] for r in rows})
        print(f"macro-F1 by yes_bias (rows) and many_bias (columns), at the run's trigger bias {run_trigger}; * below "
              "the run's biases: a requirement the run did not ask counts as not applicable\n")
        print("| yes_bias | " + " | ".join(f"many {m:.1f}" for m in MANY_BIASES) + " |\n|---|" + "---|" * len(MANY_BIASES))
        for b in biases:
            print(f"| {b:+.1f} | " + " | ".join(f"{table[b, m]:.3f}" + ("*" if b < run_bias or m < run_many else "")
                                                for m in MANY_BIASES) + " |")
        print(f"\nbest (exact cells): yes_bias {best['yes_bias']:+.1f}, many_bias {best['many_bias']:.1f}, "
              f"macro-F1 {best['macro_f1']:.3f}")
        triggers = [(t, redecided_metrics(result, items, run_bias, run_many, t)["verdicts"]["macro_f1"])
                    for t in TRIGGER_BIASES]
        print(f"\nmacro-F1 by trigger_bias at the run's yes_bias {run_bias:+.1f} and many_bias {run_many:.1f}:\n")
        print("| trigger_bias | " + " | ".join(f"{t:.2f}" for t, _ in triggers) + " |\n|---|" + "---|" * len(triggers))
        print("| macro-F1 | " + " | ".join(f"{f:.3f}" + ("*" if t < run_trigger else "") for t, f in triggers) + " |")
        return 0
    from tqdm import tqdm

    from assistant.audit_service import build_auditor, compile_knowledge_base
    from assistant.plans import Plan
    from knowledge_base.embedder import make_embedder
    from knowledge_base.store import KnowledgeBase

    out = Path(args.out)
    try:
        items = load_labels(args.labels, args.data_dir)[: args.limit]
        recorded = recorded_plans(args.plans_from) if args.plans_from else None  # before any model loads
        kb = KnowledgeBase("audit-eval", make_embedder(), root=out / "kb")
        kb.build([Path(p) for p in args.guidelines])
        auditor = build_auditor(kb, config=config)
        if recorded is not None:
            left = replay_plans(kb, recorded)
            if left:
                print(f"--plans-from: not recorded for today's text (changed since that run, or new), compiled anew: "
                      f"rule {', '.join(left)}", file=sys.stderr)
        start = time.perf_counter()
        with tqdm(desc="compiling rules", unit="rule") as bar:
            compiled, _ = compile_knowledge_base(
                kb, config, auditor.generator,  # the writer: compile_model, loaded if a rule needs it
                progress=lambda done, total: (setattr(bar, "total", total), bar.update(done - bar.n)))
        compile_s = time.perf_counter() - start
        if args.overrides:
            from assistant.plans import Spec, from_spec

            texts = kb.rule_texts()
            reviewed = json.loads(Path(args.overrides).read_text(encoding="utf-8"))
            for rule_id, spec in reviewed.items():
                if not rule_id.startswith("_"):
                    plan = from_spec(rule_id, *texts[rule_id], Spec.from_dict(spec), "override")
                    kb.set_override(rule_id, {"plan": plan.to_dict()})
        plans = {r: Plan.from_dict(d) for r, d in kb.plans().items()}
        settings = {"labels": portable(args.labels), "conversations": [c.conversation_id for c, _ in items],
                    "guidelines": [portable(g) for g in args.guidelines], "model": auditor.model_name,
                    "judge": config.audit_judge, "adapter": config.audit_adapter_path(), "k": auditor.settings.k,
                    "scorer": auditor.settings.scorer, "yes_bias": auditor.yes_bias, "many_bias": auditor.many_bias,
                    "trigger_bias": auditor.trigger_bias, "plans": {r: p.key for r, p in plans.items()}}
        reports, times = finished_audits(out / "audits.jsonl", settings) if args.resume else ([], [])
        resumed = len(reports)
        checkpoint = start_checkpoint(out / "audits.jsonl", settings, reports, times)
        for conv, _ in tqdm(items[len(reports):], desc="auditing", unit="conversation", initial=len(reports),
                            total=len(items)):
            start = time.perf_counter()
            reports.append(auditor.audit(conv))
            times.append(time.perf_counter() - start)
            checkpoint(reports[-1], times[-1])
    except SupportLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = {"labels": portable(args.labels), "guidelines": [portable(g) for g in args.guidelines],
              "overrides": portable(args.overrides) if args.overrides else None,
              "plans_from": portable(args.plans_from) if args.plans_from else None, "model": auditor.model_name,
              "judge": config.audit_judge, "adapter": config.audit_adapter_path(), "compile_model": config.compile_model,
              "k": auditor.settings.k, "scorer": auditor.settings.scorer, "yes_bias": auditor.yes_bias, "many_bias": auditor.many_bias,
              "trigger_bias": auditor.trigger_bias, "n_conversations": len(items), "n_rules": len(kb.rules()),
              "median_audit_s": statistics.median(times), "total_s": sum(times), "resumed_audits": resumed,
              "compile": {"rules": compiled, "seconds": round(compile_s, 1),
                          "plans": {r: {"origin": p.origin, "plan": p.describe(), "note": p.note, "key": p.key}
                                    for r, p in plans.items()}},
              "metrics": evaluate_reports(items, reports), "retrieval_recall_at": retrieval_recall_at(items, auditor.retriever),
              "selection_recall_at": selection_recall_at(items, auditor),
              "reports": [r.to_dict() for r in reports]}
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "report.md").write_text(render(result), encoding="utf-8")
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
