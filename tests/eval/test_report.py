"""eval.report and eval.compare keep our BERTScore and the seed's (another encoder) apart, on hand-made results."""

import csv
from pathlib import Path

import pytest

from eval import compare, report
from eval.report import SEED_BERTSCORE_F1, SEED_BERTSCORE_LABEL, headline_rows, paired_rows, render_diff, render_markdown

COMMITTED = Path(__file__).resolve().parents[2] / "eval" / "results" / "tweetsumm-test-qwen2.5-coder-0.5b"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
SEED_VALUES = [f"{v:.4f}" for v in SEED_BERTSCORE_F1.values()]


def stat(mean: float) -> dict:
    return {"mean": mean, "low": mean - 0.01, "high": mean + 0.01, "n": 4}


def results(encoder: str | None = MINILM) -> dict:
    metrics = ("rouge1", "rouge2", "rougeL", "rougeLsum") + (("bertscore_f1",) if encoder else ())
    means = {"base": {m: stat(0.3) for m in metrics}, "tuned": {m: stat(0.4) for m in metrics}}
    paired = {"tuned": {m: {"diff": stat(0.1), "p_value": 0.01, "wins": 3, "losses": 1, "ties": 0} for m in metrics}}
    bert = {"encoder": encoder, "num_layers": 6, "idf": False, "rescale_with_baseline": False} if encoder else None
    return {
        "created": "2026-01-01T00:00:00+00:00", "git_commit": "abc",
        "data": {"split": "test", "n_dialogs": 4},
        "protocol": {"rouge": {"use_stemmer": True}, "bertscore": bert, "bootstrap": {"samples": 100},
                     "paired_test": "sign-flip"},
        "systems": {"base": {"model": "m", "config": {}}, "tuned": {"model": "m+lora", "config": {}}},
        "aggregates": {"means": {"first": means, "multi": means}, "paired": {"first": paired, "multi": paired},
                       "lengths": {}, "errors": {}},
        "timings": {"load_data_s": 0, "systems": {}, "rouge_s": 0, "bootstrap_s": 0, "compute_s": 0, "wall_s": 0},
        "rows": [{"id": "d1", "system": s, "prediction": "p", "references": ["r"]} for s in ("base", "tuned")],
    }


def columns(header: list[str], rows: list[list[str]]) -> dict[str, list[str]]:
    return {name: [row[i] for row in rows] for i, name in enumerate(header)}


def markdown_columns(text: str, first_header_cell: str = "system") -> dict[str, list[str]]:
    """The first Markdown table in ``text`` whose header starts with ``first_header_cell``, by column."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header_cell} |"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return columns(table[0], table[2:])


def test_our_bertscore_column_names_the_encoder_and_never_holds_the_seeds_number():
    by_column = columns(*headline_rows(results()))
    ours = by_column["BERTScore F1 (all-MiniLM-L6-v2)"]
    assert ours[:2] == ["0.3000 [0.290, 0.310]", "0.4000 [0.390, 0.410]"]
    assert not any(v in cell for v in SEED_VALUES for cell in ours)
    assert by_column[SEED_BERTSCORE_LABEL] == ["-", "-", *SEED_VALUES]
    assert "not comparable" in SEED_BERTSCORE_LABEL and "BERTScore F1" not in by_column  # no unlabelled column
    assert by_column["ROUGE-1"][2:] == ["0.2338", "0.4035"]  # ROUGE is computed alike: the seed's shares our column


def test_multi_reference_table_has_no_seed_rows_and_paired_rows_name_the_encoder():
    header, rows = headline_rows(results(), "multi")
    assert SEED_BERTSCORE_LABEL not in header and len(rows) == 2
    labels = [row[1] for row in paired_rows(results())[1]]
    assert "BERTScore F1 (all-MiniLM-L6-v2)" in labels and "BERTScore F1" not in labels


def test_a_run_without_bertscore_still_labels_the_seeds_number():
    by_column = columns(*headline_rows(results(encoder=None)))
    assert by_column[SEED_BERTSCORE_LABEL][2:] == SEED_VALUES
    assert "BERTScore: not computed." in render_markdown(results(encoder=None))


def test_markdown_report_says_what_bertscore_compares_with():
    md = render_markdown(results())
    assert "compares our systems with each other" in md and "roberta-large" in md
    assert markdown_columns(md)[SEED_BERTSCORE_LABEL][:2] == ["-", "-"]


def test_diff_of_runs_with_different_encoders_leaves_bertscore_out():
    same = render_diff(results(), results())
    assert "BERTScore F1 (all-MiniLM-L6-v2)" in same
    other = render_diff(results(), results(encoder="local/all-mpnet-base-v2"))
    assert "BERTScore" not in other.splitlines()[1] and "encoders differ" in other
    assert "ROUGE-1" in other


def test_compare_records_the_encoder_with_every_bertscore_statistic(tmp_path):
    rows = [{"id": f"d{i}", "system": s, "prediction": "p", "references": ["r"], "error": None, "words": 1, "total_s": 0.1,
             "scores": {p: {"rouge1": 0.1 * i, "rouge2": 0.0, "rougeL": 0.0, "rougeLsum": 0.0, "bertscore_f1": 0.5 + 0.1 * i}
                        for p in ("first", "multi")}}
            for s in ("base", "tuned") for i in range(3)]
    agg = compare.aggregate(rows, ["base", "tuned"], samples=50, bertscore_encoder=MINILM)
    assert agg["means"]["first"]["tuned"]["bertscore_f1"]["encoder"] == MINILM
    assert agg["paired"]["multi"]["tuned"]["bertscore_f1"]["encoder"] == MINILM
    assert "encoder" not in agg["means"]["first"]["tuned"]["rouge1"]
    compare.write_examples_csv(rows, tmp_path / "examples.csv", MINILM)
    header = next(csv.reader((tmp_path / "examples.csv").open()))
    assert "first_bertscore_f1_all-MiniLM-L6-v2" in header and "first_bertscore_f1" not in header


@pytest.mark.parametrize("section", ["## First reference", "## Best of all references"])
def test_committed_report_keeps_the_seeds_bertscore_out_of_our_column(section):
    """The committed report.md is rendered by this code (regenerate it with eval.report if this fails)."""
    md = (COMMITTED / "report.md").read_text(encoding="utf-8")
    by_column = markdown_columns(md[md.index(section):])
    ours = by_column["BERTScore F1 (all-MiniLM-L6-v2)"]
    assert ours and not any(cell in SEED_VALUES for cell in ours)
    if section.startswith("## First"):
        assert by_column[SEED_BERTSCORE_LABEL][-2:] == SEED_VALUES
    assert report.bertscore_encoder(report.load_results(COMMITTED)) == MINILM
