"""eval.audit: verdict scores against hand-computed values; the labelled dev set is well formed."""

import json

import pytest

from assistant.audit import AuditReport, Finding
from eval.audit import DEV_LABELS, evaluate_reports, load_labels, score


def test_score_hand_computed():
    gold = ["followed", "followed", "violated", "not_applicable"]
    pred = ["followed", "violated", "violated", "followed"]
    s = score(gold, pred)
    f, v, na = (s["per_verdict"][k] for k in ("followed", "violated", "not_applicable"))
    assert (f["precision"], f["recall"]) == (0.5, 0.5) and f["f1"] == 0.5
    assert (v["precision"], v["recall"]) == (0.5, 1.0) and v["f1"] == pytest.approx(2 / 3)
    assert na["f1"] == 0.0 and na["support"] == 1 and na["predicted"] == 0
    assert s["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0) / 3) and s["accuracy"] == 0.5
    assert s["confusion"]["followed"]["violated"] == 1


def test_dev_set_is_complete_and_its_quotes_are_verbatim(tweetsumm_dir):
    rows = [json.loads(line) for line in DEV_LABELS.read_text().splitlines()]
    items = load_labels(DEV_LABELS, tweetsumm_dir)
    assert len(items) == len(rows) >= 20
    for (conv, labels), row in zip(items, rows):
        assert sorted(labels, key=lambda r: int(r[1:])) == [f"G{i}" for i in range(1, 11)]
        for quote in row["evidence"].values():
            assert not quote or any(quote in t.text for t in conv.turns), quote


def test_unretrieved_rules_count_as_not_applicable_and_undetermined_as_wrong(tweetsumm_dir):
    conv, _ = load_labels(DEV_LABELS, tweetsumm_dir)[0]
    labels = {"G1": "violated", "G2": "not_applicable", "G3": "followed"}
    finding = Finding("G1", "G1", "undetermined", "", "none", "", "pb.md", ("c1",), "", 2)
    quoted = Finding("G3", "G3", "followed", conv.turns[1].text, "verbatim", "", "pb.md", ("c3",), "", 1)
    report = AuditReport([finding, quoted], [], ["G2"], "fake", 1.0)
    m = evaluate_reports([(conv, labels)], [report])
    assert m["verdicts"]["accuracy"] == pytest.approx(2 / 3) and m["undetermined"] == 1
    assert m["retrieval_recall"] == 1.0 and m["evidence"]["verbatim_rate"] == 1.0


def test_held_out_set_is_complete_and_apart_from_the_dev_set(tweetsumm_dir):
    from eval.audit import REPO

    held_out = REPO / "eval" / "audit_dev" / "brightline-heldout.jsonl"
    rows = [json.loads(line) for line in held_out.read_text().splitlines()]
    dev = {json.loads(line)["conversation_id"] for line in DEV_LABELS.read_text().splitlines()}
    items = load_labels(held_out, tweetsumm_dir)
    assert len(items) == len(rows) >= 20 and not dev & {r["conversation_id"] for r in rows}
    for (conv, labels), row in zip(items, rows):
        assert sorted(labels, key=lambda r: int(r[1:])) == [f"G{i}" for i in range(1, 11)]
        assert all(not q or any(q in t.text for t in conv.turns) for q in row["evidence"].values())


def test_calibration_re_decides_recorded_checks(tweetsumm_dir):
    from eval.audit import sweep_yes_bias

    conv, _ = load_labels(DEV_LABELS, tweetsumm_dir)[0]
    signed = {"verdict": "followed", "scope": "all", "statement": "this reply apologises for the problem",
              "p": 0.6, "per_turn": {"1": 0.6, "3": 0.7}, "conversation_p": None}
    result = {"reports": [{"conversation_id": conv.conversation_id, "findings": [],
                           "trail": [{"rule_id": "G4", "checks": [signed]}]}]}
    rows = sweep_yes_bias(result, [(conv, {"G4": "violated"})], biases=(0.0, 0.5), manys=(0.0,))
    assert [r["accuracy"] for r in rows] == [0.0, 1.0]  # logit(0.6) = 0.41 < 0.5: the yes no longer counts
    rows = sweep_yes_bias(result, [(conv, {"G4": "violated"})], biases=(0.5,), manys=(0.0, 1.0))
    assert [r["accuracy"] for r in rows] == [1.0, 0.0]  # each of the two answers moved up by 1.0: both hold again


def test_a_re_decided_run_keeps_the_evidence_of_the_violations_it_still_finds(tweetsumm_dir):
    """A trigger bias takes G2's violation away: the violations left keep the run's evidence (one verbatim, so
    100%); a yes-bias that turns a run's followed into a violation has no recorded quote, so the shares are unknown."""
    from eval.audit import redecided_metrics

    conv, _ = load_labels(DEV_LABELS, tweetsumm_dir)[0]
    signed = {"verdict": "followed", "scope": "all", "statement": "this reply apologises for the problem",
              "per_turn": {"1": 0.2, "3": 0.9}, "conversation_p": None}
    polite = {"verdict": "followed", "scope": "all", "statement": "this reply is courteous",
              "per_turn": {"1": 0.7, "3": 0.9}, "conversation_p": None}
    trigger = {"verdict": "not_applicable", "scope": "none", "statement": "the customer shares account details",
               "per_turn": {"0": 0.7}, "conversation_p": None}
    dm = {"verdict": "followed", "scope": "any", "statement": "this reply invites a DM",
          "per_turn": {"1": 0.2, "3": 0.3}, "conversation_p": None}
    findings = [{"rule_id": "G4", "verdict": "violated", "evidence_status": "verbatim"},
                {"rule_id": "G2", "verdict": "violated", "evidence_status": "absence"},
                {"rule_id": "G8", "verdict": "followed", "evidence_status": "none"}]
    result = {"reports": [{"conversation_id": conv.conversation_id, "findings": findings,
                           "trail": [{"rule_id": "G4", "checks": [signed]}, {"rule_id": "G2", "checks": [trigger, dm]},
                                     {"rule_id": "G8", "checks": [polite]}]}]}
    labels = [(conv, {"G4": "violated", "G2": "not_applicable", "G8": "followed"})]
    as_run = redecided_metrics(result, labels, 0.0, 0.0, 0.0)
    assert as_run["preds"] == [["violated", "violated", "followed"]] and as_run["violations_with_verbatim_evidence"] == 0.5
    held = redecided_metrics(result, labels, 0.0, 0.0, 1.0)  # logit(0.7) = 0.85 < 1: G2 no longer applies
    assert held["preds"] == [["violated", "not_applicable", "followed"]] and held["verdicts"]["accuracy"] == 1.0
    assert (held["violations_with_verbatim_evidence"], held["violations_resting_on_absence"]) == (1.0, 0.0)
    strict = redecided_metrics(result, labels, 1.0, 0.0, 1.0)  # logit(0.7) = 0.85 < 1: G8 fails now
    assert strict["preds"][0][2] == "violated" and strict["violations_with_verbatim_evidence"] is None


def test_a_re_decided_run_asks_its_detectors_again():
    """A run recorded the signature detector saying no to the first part of a split reply (1/2, signed on its 2/2),
    and the model answering a thanks question: re-deciding answers both as today's plans would, by the detectors
    their questions now go to, from the text; a question about meaning and a generic one keep their answers."""
    from assistant.conversation import from_turns
    from eval.audit import redecided_metrics, redetected

    conv = from_turns([{"speaker": "customer", "text": "@Air my bag is lost"},
                       {"speaker": "agent", "text": "@1 Sorry to hear that, please file a report at the desk... 1/2"},
                       {"speaker": "agent", "text": "@1 ...or online. Thanks for your patience ^KL 2/2"}])
    signed = {"verdict": "followed", "scope": "all", "statement": "Does this reply have a signature?",
              "detector": "signature", "per_turn": {"1": 0.0, "2": 1.0}, "conversation_p": None}
    thanked = {"verdict": "followed", "scope": "any", "statement": "this reply thanks the customer",
               "per_turn": {"1": 0.3, "2": 0.4}, "conversation_p": None}  # the model's answers, before the detector
    sorry = {**thanked, "statement": "Does this reply apologise for the lost bag?"}  # for what: meaning
    generic = {**signed, "statement": "Does this reply have a signature?", "generic": True}
    again = redetected([signed, thanked, sorry, generic], conv)
    assert again[0]["per_turn"] == {"1": 1.0, "2": 1.0} and again[1]["per_turn"] == {"1": 0.0, "2": 1.0}
    assert again[2:] == [sorry, generic]
    result = {"reports": [{"findings": [{"rule_id": "1.1", "verdict": "violated", "evidence_status": "verbatim"}],
                           "trail": [{"rule_id": "1.1", "checks": [signed]}]}]}
    decided = redecided_metrics(result, [(conv, {"1.1": "followed"})], 0.0, 0.0, 0.0)
    assert decided["preds"] == [["followed"]] and decided["run_preds"] == [["violated"]]


def test_plans_are_replayed_from_a_run_s_words_refused_when_they_differ_and_recompiled_when_the_rule_did():
    from assistant.errors import SupportLensError
    from assistant.plans import Plan, Spec, from_clauses, from_spec
    from eval.audit import replay_plans

    prose = "When a customer reports a delay, the agent gives the new departure time."
    clauses = "Sign replies.\n\n- Followed: every agent reply carries a signature.\n- Violated: a reply is unsigned."
    texts = {"D1": ("D1: Delays", prose), "G4": ("G4: Sign", clauses)}

    class Store:  # KnowledgeBase.compile_rules over two rules
        plans: dict = {}

        def compile_rules(self, compile_one, key):  # noqa: ANN001, ANN202
            self.plans = {r: p for r, t in texts.items() if (p := compile_one(r, *t)) is not None}

    spec = Spec("when", "Does this reply give the new departure time?", "any_reply", "Does this message report a delay?")
    model = from_spec("D1", *texts["D1"], spec, "model", "examples: ...")
    recorded = {"D1": {"origin": "model", "plan": model.describe(), "note": model.note},
                "G4": {"origin": "clauses", "plan": from_clauses("G4", *texts["G4"]).describe(), "note": ""}}
    store = Store()
    replay_plans(store, recorded)
    assert Plan.from_dict(store.plans["D1"]) == model and store.plans["D1"]["origin"] == "model"
    assert Plan.from_dict(store.plans["G4"]) == from_clauses("G4", *texts["G4"])
    assert replay_plans(store, recorded) == []
    changed = Store()  # a rule compiled from another text (or compiler version), or not recorded: left to compile
    assert replay_plans(changed, {**recorded, "D1": {**recorded["D1"], "key": "0123456789abcdef"}}) == ["D1"]
    assert set(changed.plans) == {"G4"}
    assert replay_plans(Store(), {"G4": recorded["G4"]}) == ["D1"]
    assert replay_plans(Store(), {**recorded, "D1": {**recorded["D1"], "key": model.key}}) == []  # same text
    with pytest.raises(SupportLensError, match="Rule D1: the run's plan does not read back"):
        replay_plans(Store(), {**recorded, "D1": {**recorded["D1"], "plan": "Applies to every conversation."}})
    with pytest.raises(SupportLensError, match="Rule D1: the run records a fallback plan"):
        replay_plans(Store(), {**recorded, "D1": {**recorded["D1"], "origin": "fallback"}})
    for broken in ("a plan", {"origin": "model"}, {"plan": model.describe()}):  # a malformed record
        with pytest.raises(SupportLensError, match="Rule D1: the run's record of its plan is malformed"):
            replay_plans(Store(), {**recorded, "D1": broken})
    replay_plans(Store(), {**recorded, "D1": {"origin": "model", "plan": model.describe()}})  # no note: none


def test_plans_from_a_file_that_records_none_is_a_clear_error(tmp_path):
    from assistant.errors import SupportLensError
    from eval.audit import recorded_plans

    for name, text in (("a.json", "{not json"), ("b.json", "[]"), ("c.json", '{"reports": []}')):
        (tmp_path / name).write_text(text)
        with pytest.raises(SupportLensError, match="--plans-from"):
            recorded_plans(tmp_path / name)
    with pytest.raises(SupportLensError, match="not a readable results.json"):
        recorded_plans(tmp_path / "missing.json")
    (tmp_path / "d.json").write_text('{"compile": {"plans": {"G1": {"origin": "clauses", "plan": "x"}}}}')
    assert recorded_plans(tmp_path / "d.json") == {"G1": {"origin": "clauses", "plan": "x"}}


def test_the_retired_mode_flag_and_a_typo_in_the_audit_settings_are_refused(capsys):
    from eval.audit import main

    with pytest.raises(SystemExit):  # not taken for an abbreviation of --model
        main(["--mode", "verdict"])
    assert "unrecognized arguments: --mode verdict" in capsys.readouterr().err
    assert main(["--scorer", "probs", "--limit", "1"]) == 2
    assert "audit_scorer 'probs' is unknown: use one of auto, probabilities, yes_no" in capsys.readouterr().err


def test_skyway_sets_are_complete_apart_and_match_the_manuals_rules(tweetsumm_dir):
    """The second playbook (numbered manual + PDF addendum): every label names a rule the manual defines, dev and
    held-out share no dialog, and every violation's quote is verbatim."""
    from eval.audit import REPO
    from knowledge_base.chunking import chunk_document
    from knowledge_base.documents import collect_paths, extract_text, read_source

    folder = REPO / "eval" / "audit_dev" / "skyway"
    rules = set()
    for path in collect_paths([folder]):
        if path.suffix in (".md", ".pdf") and path.name != "README.md":
            src = read_source(path)
            rules |= {c.rule_id for c in chunk_document(src.name, src.kind, extract_text(src)) if c.rule_id}
    assert len(rules) == 10 and {"5.1", "5.2"} <= rules  # the addendum's rules come from the PDF
    ids = []
    for name in ("skyway-dev.jsonl", "skyway-heldout.jsonl"):
        rows = [json.loads(line) for line in (folder / name).read_text().splitlines()]
        items = load_labels(folder / name, tweetsumm_dir)
        ids.append({r["conversation_id"] for r in rows})
        for (conv, labels), row in zip(items, rows):
            assert set(labels) == rules
            assert all(any(q in t.text for t in conv.turns) for q in row["evidence"].values())
    assert len(ids[0]) == 14 and len(ids[1]) == 18 and not ids[0] & ids[1]


def test_the_reviewed_plans_are_valid_specs():
    from assistant.plans import Spec
    from eval.audit import REPO

    reviewed = json.loads((REPO / "eval" / "audit_dev" / "brightline-prose-reviewed.json").read_text())
    specs = {r: Spec.from_dict(s) for r, s in reviewed.items() if not r.startswith("_")}
    assert sorted(specs, key=lambda r: int(r[1:])) == [f"G{i}" for i in range(1, 11)]
    skyway = json.loads((REPO / "eval" / "audit_dev" / "skyway" / "skyway-reviewed.json").read_text())
    checks = Spec.from_dict(skyway["3.1"]).checks()  # the DM rule, stated exactly: re-decided with no model
    assert [c.detector for c in checks] == ["personal_data_request", "public_personal_data_request"]


def test_eval_audit_end_to_end_with_fakes_and_a_managers_overrides(tmp_path, monkeypatch, tweetsumm_dir):
    from eval.audit import REPO, main
    from tests.conftest import FakeGenerator
    from tests.knowledge_base.conftest import FakeEmbedder

    class Judge(FakeGenerator):
        def choice_probabilities(self, prompt, choices):
            return [0.3, 0.7]

    monkeypatch.setattr("knowledge_base.embedder.make_embedder", FakeEmbedder)
    monkeypatch.setattr("assistant.backends.load_generator", lambda *a, **k: Judge(reply="not json"))
    out = tmp_path / "run"
    assert main(["--guidelines", str(REPO / "eval" / "audit_dev" / "brightline-prose-playbook.md"), "--limit", "2",
                 "--overrides", str(REPO / "eval" / "audit_dev" / "brightline-prose-reviewed.json"), "--judge", "model",
                 "--out", str(out), "--data-dir", str(tweetsumm_dir)]) == 0
    result = json.loads((out / "results.json").read_text())
    assert all(p["origin"] == "override" for p in result["compile"]["plans"].values())
    assert result["metrics"]["macro_f1_interval"] and result["selection_recall_at"]
    report = (out / "report.md").read_text()
    assert "All-not-applicable baseline per rule" in report and "## Check plans" in report


def test_eval_audit_passes_the_judge_adapter_flag(monkeypatch):
    import eval.audit as ev
    from assistant.errors import ConfigError

    seen = []

    def fake_load_config(path, **overrides):
        seen.append(overrides)
        raise ConfigError("stop here")

    monkeypatch.setattr(ev, "load_config", fake_load_config)
    assert ev.main(["--audit-adapter", "runs/judge"]) == 2
    assert ev.main(["--adapter", "none", "--model", "m.gguf"]) == 2  # the short flags, like --model's
    assert seen[0]["audit_adapter"] == "runs/judge" and seen[0]["audit_model"] is None
    assert (seen[1]["audit_adapter"], seen[1]["audit_model"]) == ("none", "m.gguf")


def test_the_paired_difference_of_two_decisions_on_the_same_conversations():
    from eval.audit import bootstrap_difference

    golds = [["followed", "violated"], ["not_applicable", "violated"], ["followed", "followed"]]
    assert bootstrap_difference(golds, golds, golds, n=50) == [0.0, 0.0]
    wrong = [["violated", "followed"], ["followed", "followed"], ["violated", "violated"]]
    low, high = bootstrap_difference(golds, golds, wrong, n=200)
    assert 0 < low <= high <= 1  # every resample: the right verdicts beat the wrong ones


def test_calibrate_prints_the_grid_and_writes_a_re_decided_report(tweetsumm_dir, tmp_path, capsys):
    from eval.audit import main

    conv, _ = load_labels(DEV_LABELS, tweetsumm_dir)[0]
    courteous = {"verdict": "followed", "scope": "all", "statement": "Is this reply courteous?",
                 "p": 0.3, "per_turn": {"1": 0.3, "3": 0.9, "5": 0.9, "7": 0.9}, "conversation_p": None}
    result = {"labels": str(DEV_LABELS), "n_conversations": 1, "model": "fake", "k": 12, "median_audit_s": 1.0,
              "total_s": 1.0, "yes_bias": 0.0, "many_bias": 0.0, "n_rules": 1,
              "metrics": {"verdicts": {}, "macro_f1_interval": None, "retrieval_recall": None,
                          "evidence": {"verbatim": 0, "quotes": 0, "verbatim_rate": None}},
              "reports": [{"conversation_id": conv.conversation_id, "findings": [],
                           "trail": [{"rule_id": "G8", "checks": [courteous]}]}]}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(result))
    assert main(["--calibrate", str(path), "--data-dir", str(tweetsumm_dir)]) == 0
    out = capsys.readouterr().out
    assert "| yes_bias | many 0.0 | many 0.5 |" in out
    assert "| -0.1 | 0.121* |" in out and "| +0.0 | 0.121 |" in out  # below the run's yes-bias: marked inexact
    # the one polite reply scored 0.3 among four no longer fails "every reply is courteous" once log(4) x 1.0 moves it
    assert "best (exact cells): yes_bias +0.0, many_bias 1.0" in out
    assert main(["--calibrate", str(path), "--data-dir", str(tweetsumm_dir), "--many-bias", "1"]) == 0
    report = (tmp_path / "report-yes-bias-+0.0-many-1.0.md").read_text()
    assert "many-bias 1.0" in report and "Against the run's own verdicts" in report
    assert "| trigger_bias | 0.00 | 0.25 |" in out  # and the trigger bias at the run's yes- and many-bias
    assert "| macro-F1 | 0.121 | 0.121 |" in out  # G8 has no trigger: the bias changes nothing
    assert main(["--calibrate", str(path), "--data-dir", str(tweetsumm_dir), "--trigger-bias", "0.5"]) == 0
    report = (tmp_path / "report-yes-bias-+0.0-trigger-0.50.md").read_text()
    assert "trigger bias 0.5" in report and "trigger bias 0.0 (verdicts exact" in report


def test_an_interrupted_evaluation_resumes_from_its_finished_audits(tmp_path, monkeypatch, tweetsumm_dir):
    from assistant.audit import Auditor
    from eval.audit import main
    from tests.conftest import FakeGenerator
    from tests.knowledge_base.conftest import FakeEmbedder

    class Judge(FakeGenerator):
        def choice_probabilities(self, prompt, choices):
            return [0.3, 0.7]

    audited, real_audit = [], Auditor.audit

    def audit(self, conv):
        if len(audited) == interrupt_at:
            raise KeyboardInterrupt  # the session ends mid-run
        audited.append(conv.conversation_id)
        return real_audit(self, conv)

    monkeypatch.setattr(Auditor, "audit", audit)
    monkeypatch.setattr("knowledge_base.embedder.make_embedder", FakeEmbedder)
    monkeypatch.setattr("assistant.backends.load_generator", lambda *a, **k: Judge(reply="not json"))
    out = tmp_path / "run"
    args = ["--limit", "3", "--judge", "model", "--out", str(out), "--data-dir", str(tweetsumm_dir)]
    interrupt_at = None
    assert main(args) == 0
    whole, ids = json.loads((out / "results.json").read_text()), list(audited)

    (out / "results.json").unlink()
    audited.clear()
    interrupt_at = 1
    with pytest.raises(KeyboardInterrupt):
        main(args)
    assert len((out / "audits.jsonl").read_text().splitlines()) == 2  # the settings and the one finished audit
    audited.clear()
    interrupt_at = None
    assert main([*args, "--resume"]) == 0
    assert audited == ids[1:]  # the finished audit is read back, not run again
    resumed = json.loads((out / "results.json").read_text())
    assert resumed["resumed_audits"] == 1 and resumed["metrics"] == whole["metrics"]
    assert [r["findings"] for r in resumed["reports"]] == [r["findings"] for r in whole["reports"]]

    assert main([*args, "--resume", "--yes-bias", "0.2"]) == 2  # another setting: its verdicts are not this run's
    assert main([*args[:1], "2", *args[2:], "--resume"]) == 2  # other conversations
    (out / "audits.jsonl").write_text("not a checkpoint\n")
    assert main([*args, "--resume"]) == 2


def test_the_fresh_sets_are_complete_and_share_no_dialog_with_any_other_set(tweetsumm_dir):
    """The fresh held-out sets were drawn after the others had scored many changes: a dialog in two sets would make
    the fresh result less fresh."""
    from eval.audit import REPO

    sets = {p: [json.loads(line) for line in p.read_text().splitlines()]
            for p in (REPO / "eval" / "audit_dev").rglob("*.jsonl")}
    assert len(sets) >= 6
    for name, rules, n in (("brightline-fresh.jsonl", {f"G{i}" for i in range(1, 11)}, 20),
                           ("skyway-fresh.jsonl", {"1.1", "1.2", "2.1", "2.2", "3.1", "4.1", "4.2", "4.3", "5.1", "5.2"}, 18)):
        path = next(p for p in sets if p.name == name)
        items = load_labels(path, tweetsumm_dir)
        assert len(items) == n and all(set(labels) == rules for _, labels in items)
        ids = {r["conversation_id"] for r in sets[path]}
        assert len(ids) == n
        for other, rows in sets.items():
            assert other == path or not ids & {r["conversation_id"] for r in rows}, other.name


def test_a_managers_correction_that_detectors_answer_re_decides_a_run_with_no_model(tmp_path, capsys, monkeypatch):
    """A run whose compiled plan for the DM rule asked the wrong thing, corrected by the manager into two checks the
    personal-data detectors answer: --calibrate --overrides re-decides it from the text, compares with the same
    re-decision without the correction, and refuses a correction that would need the model."""
    from assistant.conversation import from_turns
    from eval.audit import main, with_overrides

    dm = from_turns([{"speaker": "customer", "text": "@Air my flight was cancelled"},
                     {"speaker": "agent", "text": "@1 So sorry! Please DM us your booking reference. ^KL"}])
    public = from_turns([{"speaker": "customer", "text": "@Air my flight was cancelled"},
                         {"speaker": "agent", "text": "@1 So sorry! What's your booking reference? ^KL"}])
    none = from_turns([{"speaker": "customer", "text": "@Air thanks for the great flight"},
                       {"speaker": "agent", "text": "@1 Glad you enjoyed it! ^KL"}])
    items = [(dm, {"3.1": "followed"}), (public, {"3.1": "violated"}), (none, {"3.1": "not_applicable"})]
    wrong = {"verdict": "followed", "scope": "all", "statement": "Does this reply ask for a booking reference?",
             "per_turn": {"1": 0.9}, "conversation_p": None}  # the compiled plan: yes means followed
    result = {"labels": "fake.jsonl", "n_conversations": 3, "model": "fake", "k": 12, "median_audit_s": 1.0,
              "total_s": 3.0, "yes_bias": 0.0, "many_bias": 0.0, "trigger_bias": 0.5, "n_rules": 1,
              "compile": {"rules": 0, "seconds": 0.0, "plans": {"3.1": {"origin": "model", "plan": "wrong", "note": "",
                                                                         "key": "k"}}},
              "metrics": {"verdicts": {}, "macro_f1_interval": None, "retrieval_recall": None,
                          "evidence": {"verbatim": 0, "quotes": 0, "verbatim_rate": None}},
              "reports": [{"conversation_id": c.conversation_id,
                           "findings": [{"rule_id": "3.1", "verdict": "followed", "evidence_status": None}],
                           "trail": [{"rule_id": "3.1", "checks": [wrong]}]} for c, _ in items]}
    spec = {"applies": "when", "trigger": "Does this message ask for a booking reference or other personal details?",
            "trigger_in": "agent", "scope": "no_reply",
            "question": "Does this reply ask for a booking reference or other personal details publicly?"}
    again = with_overrides(result, items, {"_about": "a review", "3.1": spec})
    assert [r["trail"][0]["checks"][0]["detector"] for r in again["reports"]] == ["personal_data_request"] * 3
    assert again["compile"]["plans"]["3.1"]["origin"] == "override"
    assert result["reports"][0]["trail"][0]["checks"] == [wrong]  # the run itself is left as it was
    path, overrides = tmp_path / "results.json", tmp_path / "reviewed.json"
    path.write_text(json.dumps(result))
    overrides.write_text(json.dumps({"3.1": spec}))
    monkeypatch.setattr("eval.audit.load_labels", lambda path, data_dir=None: items)
    assert main(["--calibrate", str(path), "--overrides", str(overrides)]) == 0
    report = (tmp_path / "report-yes-bias-+0.0-reviewed.md").read_text()
    assert "**Macro-F1 1.000**" in report and "Accuracy per rule: 3.1 1.00" in report
    assert "Against the same re-decision without them (macro-F1 0.167)" in report  # the wrong plan: all followed
    overrides.write_text(json.dumps({"3.1": {**spec, "question": "Does this reply ask for it politely?"}}))
    assert main(["--calibrate", str(path), "--overrides", str(overrides)]) == 2
    assert "asks the model" in capsys.readouterr().err
    overrides.write_text(json.dumps({"3.l": spec}))  # a typo in a rule id is an error, not a rule never scored
    assert main(["--calibrate", str(path), "--overrides", str(overrides)]) == 2
    assert "no rule 3.l in that run" in capsys.readouterr().err


def test_a_detected_trail_with_no_reply_in_scope_finds_the_rule_not_applicable():
    from assistant.conversation import from_turns
    from assistant.judge import redecide
    from assistant.plans import Spec
    from eval.audit import detected_trail

    spec = Spec.from_dict({"applies": "when", "trigger": "Does this message ask for a booking reference or other "
                           "personal details?", "trigger_in": "agent", "scope": "no_reply",
                           "question": "Does this reply ask for a booking reference or other personal details publicly?"})
    only_customer = from_turns([{"speaker": "customer", "text": "my flight was cancelled, booking ref X1Y2Z3"}])
    trail = detected_trail(spec.checks(), only_customer)
    # the trigger: no message shows it (not applicable holds); the violation: no reply makes it
    assert [c["conversation_p"] for c in trail] == [1.0, 0.0] and redecide(trail, 0.0, 0.0, 0.5)[0] == "not_applicable"
