"""Batch jobs: CSV/JSONL reading with per-row errors, resume after a crash, export."""

import csv
import json
import threading

import pytest

from assistant.batch import Worker, export, read_batch, run_batch_on, work_dir
from assistant.errors import GenerationFailed, InvalidConversation

CSV = (
    'id,conversation\n'
    'a1,"Customer: my parcel is late\nAgent: sorry, DM us ^JK"\n'
    'a2,"Customer: only me talking"\n'
    ',"Customer: refund please\nAgent: done"\n'
).encode()


def test_csv_rows_and_errors_with_row_numbers():
    items = read_batch(CSV, "upload.csv")
    assert [i.id for i in items] == ["a1", "a2", "row-4"]
    assert items[0].conversation and items[1].error.startswith("row 3:") and "one-sided" in items[1].error
    with pytest.raises(InvalidConversation, match="column named one of conversation"):
        read_batch(b"name,notes\nx,y\n", "bad.csv")
    with pytest.raises(InvalidConversation, match="empty"):
        read_batch(b"  ", "x.csv")


def test_jsonl_formats_and_bad_lines():
    lines = [json.dumps({"id": "t1", "turns": [{"speaker": "customer", "text": "hi"}, {"speaker": "agent", "text": "hello"}]}),
             "{not json", json.dumps([1, 2]),
             json.dumps({"id": "t4", "conversation": "Customer: a\nAgent: b"})]
    items = read_batch("\n".join(lines).encode(), "x.jsonl")
    assert [i.id for i in items] == ["t1", "row-2", "row-3", "t4"]
    assert items[1].error.startswith("row 2: not valid JSON") and "JSON object" in items[2].error
    assert items[0].conversation.conversation_id == "t1" and items[3].conversation


def test_run_resumes_after_a_crash_and_reports_failures(tmp_path):
    items = read_batch(CSV, "upload.csv")
    calls = []

    def summarize(conv):
        calls.append(conv)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies on the second good row
        return "summary"

    folder = work_dir(CSV, {"summarize": True}, root=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_batch_on(items, folder, [Worker(summarize)])
    calls.clear()
    steps = []
    results = run_batch_on(items, folder, [Worker(lambda conv: calls.append(conv) or "again")],
                           progress=lambda d, t: steps.append((d, t))).results
    assert len(calls) == 1  # row a1 was finished before the crash; a2 failed without a model call
    assert [r.summary for r in results] == ["summary", "", "again"] and results[1].error.startswith("row 3")
    assert steps[-1] == (3, 3)

    def failing(conv):
        raise GenerationFailed("empty")

    other = run_batch_on(items, work_dir(CSV, {"summarize": True, "x": 1}, root=tmp_path), [Worker(failing)]).results
    assert other[0].error == "row 2: empty" and other[2].error == "row 4: empty"
    csv_path, json_path = export(results, folder)
    rows = list(csv.DictReader(open(csv_path)))
    assert rows[0]["summary"] == "summary" and rows[1]["error"].startswith("row 3") and len(json.loads(json_path.read_text())) == 3


MESSAGES_CSV = (
    "ticket_id,created_at,author,message\n"
    "T-1,2024-03-11 08:02,Ines Duarte,I got the wrong size\n"
    "T-2,2024-03-11 08:05,Acme Bot,Hi! How can I help?\n"
    "T-1,2024-03-11 08:30,Theo Martin,Sorry! A size M is on its way\n"
    "T-2,2024-03-11 08:06,Visitor,where is my refund\n"
    "T-1,2024-03-11 09:12,Ines Duarte,Thanks!\n"
    "T-2,2024-03-11 08:09,Agent,It was sent on Monday\n"
    "T-3,2024-03-11 10:00,Bob,hello?\n"
).encode()


def test_csv_with_one_row_per_message_is_grouped_by_conversation_in_order():
    items = read_batch(MESSAGES_CSV, "export.csv")
    assert [(i.id, i.row) for i in items] == [("T-1", 2), ("T-2", 3), ("T-3", 8)]
    t1, t2, t3 = items[0].conversation, items[1].conversation, items[2]
    assert [(t.speaker, t.name, t.time, t.text) for t in t1.turns] == [
        ("customer", "Ines Duarte", "2024-03-11 08:02", "I got the wrong size"),
        ("agent", "Theo Martin", "2024-03-11 08:30", "Sorry! A size M is on its way"),
        ("customer", "Ines Duarte", "2024-03-11 09:12", "Thanks!")]
    assert t1.meta["role_reasons"] == {"Ines Duarte": "opens the conversation", "Theo Martin": "answers Ines Duarte"}
    assert [(t.speaker, t.name) for t in t2.turns] == [("bot", "Acme Bot"), ("customer", None), ("agent", None)]
    assert t3.error.startswith("row 8:") and "one-sided" in t3.error


def test_message_rows_use_the_agents_list_and_a_role_column():
    data = "chat_id,sender,role,text\nc1,Sarah,,Hello from Acme!\nc1,John,,hi\nc2,Sam,customer,hi\nc2,Kai,agent,hello\n"
    items = read_batch(data.encode(), "x.csv", agents=["sarah"])
    assert [t.speaker for t in items[0].conversation.turns] == ["agent", "customer"]
    assert [(t.speaker, t.name) for t in items[1].conversation.turns] == [("customer", "Sam"), ("agent", "Kai")]
    missing = read_batch(b"chat_id,sender,text\nc1,,hello\n", "x.csv")
    assert "row 2 has no speaker" in missing[0].error


JSONL = "\n".join(json.dumps({"id": f"c{i}", "conversation": f"Customer: order {i} is late\nAgent: sorry, checking"})
                  for i in range(8)).encode()


def test_rows_fan_out_to_every_endpoint_at_once_and_come_back_in_row_order(tmp_path):
    from assistant.batch import Worker, run_batch_on

    together = threading.Barrier(2, timeout=10)  # broken (an error) unless two rows run at the same time
    seen, started = {"a": [], "b": []}, iter(range(8))

    def on(name):
        def summarize(conv):
            if next(started) < 2:  # the first two rows meet
                together.wait()
            seen[name].append(conv.turns[0].text)
            return f"{name}: {conv.turns[0].text}"
        return Worker(summarize=summarize)

    steps = []
    run = run_batch_on(read_batch(JSONL, "x.jsonl"), tmp_path / "w", [on("a"), on("b")],
                       progress=lambda d, t: steps.append((d, t)))
    assert [r.id for r in run.results] == [f"c{i}" for i in range(8)] and not any(r.error for r in run.results)
    assert all(r.summary.endswith(f"order {i} is late") for i, r in enumerate(run.results))
    assert seen["a"] and seen["b"] and len(seen["a"]) + len(seen["b"]) == 8
    assert run.processed == 8 and run.endpoints == 2 and run.rows_per_s > 0 and steps[0] == (0, 8) and steps[-1] == (8, 8)


def test_a_fanned_out_run_killed_midway_resumes_without_redoing_rows(tmp_path):
    from assistant.batch import Worker, run_batch_on

    items, folder, calls = read_batch(JSONL, "x.jsonl"), tmp_path / "w", []
    lock = threading.Lock()

    def summarize(conv):
        with lock:
            calls.append(conv.turns[0].text)
            if len(calls) == 4:
                raise KeyboardInterrupt  # the process dies on the fourth row
        return "first"

    with pytest.raises(KeyboardInterrupt):
        run_batch_on(items, folder, [Worker(summarize), Worker(summarize)])
    finished = {r["row"] for r in (json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines())}
    assert 1 <= len(finished) <= 3 and len(calls) <= 5  # rows not yet started were never started
    again = []
    run = run_batch_on(items, folder, [Worker(lambda c: again.append(c) or "second")] * 2)
    assert len(again) == 8 - len(finished) == run.processed
    assert sorted(r.summary for r in run.results) == ["first"] * len(finished) + ["second"] * (8 - len(finished))
    with pytest.raises(ValueError, match="at least one worker"):
        run_batch_on(items, folder, [])


def test_endpoint_workers_use_one_generator_per_endpoint(monkeypatch):
    from assistant.batch import endpoint_workers
    from assistant.config import AssistantConfig
    from tests.conftest import FakeGenerator

    made = []

    def load_generators(config):
        made.append([FakeGenerator(reply=f" from {url}.", model_name=config.model) for url in config.endpoints])
        return made[-1]

    monkeypatch.setattr("assistant.backends.load_generators", load_generators)
    config = AssistantConfig(backend="openai", model="m", openai_base_urls=("http://a/v1", "http://b/v1"))
    workers = endpoint_workers(config)
    conv = read_batch(JSONL, "x.jsonl")[0].conversation
    assert [w.summarize(conv) for w in workers] == ["The customer from http://a/v1.", "The customer from http://b/v1."]
    assert all(w.audit is None for w in workers) and len(made) == 1
