"""TweetSumm loaders: our jsonl and the official release (jsonl + Kaggle twcs.csv) give the same records."""

import csv
import json
import shutil

import pytest

from training.tweetsumm import iter_official, load_split


def write_twcs_fixture(tweetsumm_dir, split, n, out_dir):
    """A twcs.csv-shaped file for the first n dialogs: each tweet rebuilt with its sentences at their offsets."""
    official = [json.loads(line) for line in open(tweetsumm_dir / "official" / f"final_{split}_tweetsum.jsonl")][:n]
    ours = {r["conversation_id"]: r for r in map(json.loads, open(tweetsumm_dir / f"{split}.jsonl"))}
    rows = []
    for rec in official:
        mine = ours[rec["conversation_id"]]
        for entry, turn in zip(rec["tweet_ids_sentence_offset"], mine["turns"]):
            spans = [json.loads(s) for s in entry["sentence_offsets"]]
            raw, pos = [" "] * (max(e for _, e in spans) + 3), 0
            for start, end in spans:  # our turn text = sentences joined by one space
                sentence = turn["text"][pos: pos + end - start]
                raw[start:end] = list(sentence)
                pos += end - start + 1
            rows.append({"tweet_id": entry["tweet_id"], "author_id": "x", "inbound": str(turn["speaker"] == "customer"),
                         "created_at": "", "text": "".join(raw), "response_tweet_id": "", "in_response_to_tweet_id": ""})
    rows.append({"tweet_id": "999999999", "author_id": "y", "inbound": "True", "created_at": "", "text": "unrelated, with a\nnewline",
                 "response_tweet_id": "", "in_response_to_tweet_id": ""})
    with open(out_dir / "twcs.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(out_dir / f"final_{split}_tweetsum.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in official)


@pytest.mark.parametrize("split", ["test", "valid"])  # valid has annotations with a null abstractive
def test_official_release_format_gives_the_same_records(tweetsumm_dir, tmp_path, split):
    write_twcs_fixture(tweetsumm_dir, split, 110, tmp_path)
    official = load_split(split, tmp_path)
    ours = load_split(split, tweetsumm_dir)
    assert len(official) == len(ours) == 110
    for a, b in zip(official, ours):
        assert a.conversation_id == b.conversation_id
        assert a.turns == b.turns
        assert a.meta["abstractive_summaries"] == b.meta["abstractive_summaries"]


def test_official_missing_tweets_is_a_clear_error(tweetsumm_dir, tmp_path):
    write_twcs_fixture(tweetsumm_dir, "test", 2, tmp_path)
    shutil.copy(tweetsumm_dir / "official" / "final_test_tweetsum.jsonl", tmp_path / "final_test_tweetsum.jsonl")
    with pytest.raises(ValueError, match="lacks"):
        list(iter_official(tmp_path / "final_test_tweetsum.jsonl", tmp_path / "twcs.csv"))


def test_split_counts_and_null_abstractives_skipped(tweetsumm_dir):
    counts = {s: len(load_split(s, tweetsumm_dir)) for s in ("train", "valid", "test")}
    assert counts == {"train": 879, "valid": 110, "test": 110}
    assert all(c.meta["abstractive_summaries"] for c in load_split("valid", tweetsumm_dir))


def test_missing_folder_says_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="twcs.csv"):
        load_split("test", tmp_path)
    with pytest.raises(ValueError, match="unknown split"):
        load_split("dev", tmp_path)
