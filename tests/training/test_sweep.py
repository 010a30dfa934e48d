import pytest

from assistant.errors import SupportLensError
from training.sweep import main, parse_grid


def test_parse_grid():
    assert parse_grid(["lora_r=4,8", "learning_rate=1e-3"]) == {"lora_r": ["4", "8"], "learning_rate": ["1e-3"]}
    with pytest.raises(SupportLensError):
        parse_grid(["lora_r"])


def test_sweep_runs_every_point_and_ranks_them(tiny_llama, tweetsumm_dir, tmp_path, capsys):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        f"model: {tiny_llama}\ndata_dir: {tweetsumm_dir}\nlimit_train: 4\nlimit_eval: 2\nmax_length: 4096\n"
        "batch_size: 2\noptim: adamw_torch\nlr_scheduler: constant\nwarmup_ratio: 0.0\nmax_steps: 2\n"
        "eval_ratio: 0.5\nsave_ratio: 0.5\nlogging_steps: 1\n"
    )
    argv = ["--config", str(recipe), "--grid", "lora_r=2,4", "--grid", "learning_rate=1e-3", "--out", str(tmp_path / "s")]
    assert main(argv) == 0
    table = (tmp_path / "s" / "sweep.md").read_text().splitlines()
    assert len(table) == 4 and "best_eval_loss" in table[0]
    rows = (tmp_path / "s" / "sweep.csv").read_text().splitlines()
    losses = [float(r.split(",")[3]) for r in rows[1:]]
    assert losses == sorted(losses)
    # a second call reads the finished points instead of training again
    before = (tmp_path / "s" / "lora_r2-learning_rate1e-3" / "metrics.jsonl").read_text()
    assert main(argv) == 0
    assert (tmp_path / "s" / "lora_r2-learning_rate1e-3" / "metrics.jsonl").read_text() == before
