"""Per-query latency of KnowledgeBase.search with the real MiniLM embedder vs a brute-force numpy reference.

    python bench/retrieval_speed.py [--chunks 1000] [--queries 100] [-k 5] [--threads N]

Builds a store of ``--chunks`` synthetic guideline rules (one chunk each) in a temporary folder with the
default embedder (all-MiniLM-L6-v2 on CPU), then times, interleaved per query so machine noise hits all alike:
the project's path (``KnowledgeBase.search``: query embedding + langchain FAISS + chunk lookup), the query
embedding alone, the FAISS search alone, and the reference measured in the same run: a numpy dot product over
the very same vectors (read back from the index) with an argpartition top-k. Prints medians and the ratios
(goal: search under 20 ms per query on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from knowledge_base.embedder import SentenceTransformerEmbedder  # noqa: E402
from knowledge_base.store import KnowledgeBase  # noqa: E402

TOPICS = ["refunds", "order numbers", "passwords", "delivery delays", "account access", "billing errors",
          "damaged items", "subscriptions", "store opening hours", "warranty claims", "app crashes",
          "lost parcels", "price matching", "gift cards", "loyalty points", "data privacy requests"]
ACTIONS = ["move the conversation to DM", "apologise and acknowledge the problem", "give a timeframe",
           "never ask for the full card number", "sign the reply with initials", "offer a concrete next step",
           "thank the customer for their patience", "escalate to the specialist team", "avoid promising compensation",
           "link to the relevant help page", "confirm the fix with the customer", "stay courteous and never blame"]
WHEN = ["in a public reply", "when the customer is angry", "before asking for details", "after a second complaint",
        "on weekends", "when a journalist is tagged", "for business accounts", "when the order is over 30 days old"]
QUERIES = ["agent asked the customer for their password", "please DM us your order number",
           "we will refund you right away", "sorry, nothing we can do", "your parcel is lost, we will look into it",
           "the app keeps crashing after the update", "can I use my gift card online", "why was I billed twice",
           "the agent was rude to me", "when will my refund arrive", "I want my data deleted",
           "my warranty claim was ignored", "is the store open on Sunday", "the item arrived broken"]


def synthetic_documents(folder: Path, n_chunks: int, seed: int = 0) -> list[Path]:
    """Ten Markdown documents holding ``n_chunks`` rule sections (no title preamble, so one chunk per rule)."""
    rng = random.Random(seed)
    per_doc = -(-n_chunks // 10)
    paths = []
    for d in range(10):
        rules = []
        for i in range(d * per_doc, min((d + 1) * per_doc, n_chunks)):
            topic, action, when = rng.choice(TOPICS), rng.choice(ACTIONS), rng.choice(WHEN)
            rules.append(f"## R{i}: For {topic}, {action}\n\nWhen a customer writes about {topic} {when}, the agent "
                         f"should {action}. Followed: the agent does so. Violated: the agent does not "
                         f"{action}. Not applicable: the conversation is not about {topic}.\n")
        path = folder / f"guidelines-{d:02d}.md"
        path.write_text("\n".join(rules))
        paths.append(path)
    return paths


def queries(n: int, seed: int = 1) -> list[str]:
    """``n`` support-like queries: the fixed ones, then topic/action mixes."""
    rng = random.Random(seed)
    extra = [f"customer asks about {rng.choice(TOPICS)}; agent did not {rng.choice(ACTIONS)}" for _ in range(n)]
    return (QUERIES + extra)[:n]


def ms(values: list[float]) -> str:
    """Median and p90 of seconds, in milliseconds."""
    return f"median {statistics.median(values) * 1e3:8.3f} ms   p90 {sorted(values)[int(0.9 * (len(values) - 1))] * 1e3:8.3f} ms"


def main() -> None:
    """Build the store, time each path per query, print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=1000, help="synthetic rule chunks in the store")
    parser.add_argument("--queries", type=int, default=100, help="queries to time")
    parser.add_argument("-k", type=int, default=5, help="hits per query")
    parser.add_argument("--threads", type=int, help="torch threads for every embedding call (default: the "
                        "embedder's policy, one thread for queries and torch's setting for batches)")
    args = parser.parse_args()

    embedder = SentenceTransformerEmbedder(threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        start = time.perf_counter()
        report = KnowledgeBase("bench", embedder, root=Path(tmp) / "kb").build(synthetic_documents(docs, args.chunks))
        print(f"built {report.chunks} chunks in {time.perf_counter() - start:.1f} s (model load included)")
        kb = KnowledgeBase("bench", embedder, root=Path(tmp) / "kb")  # searched from disk, as the app does
        qs = queries(args.queries)
        kb.search(qs[0], k=args.k)  # load the index and warm up
        import faiss

        index = faiss.read_index(str(kb.folder / kb.versions.current() / "index.faiss"))  # what the store loaded
        vectors = index.reconstruct_n(0, index.ntotal)  # the very same vectors, for the numpy reference
        chunk_ids = [c.id for c in kb.chunks()]
        qvecs = embedder.embed(qs)
        times: dict[str, list[float]] = {name: [] for name in ("search", "embed", "faiss", "numpy", "embed+numpy")}
        agree = 0
        for i, q in enumerate(qs):
            qv = qvecs[i : i + 1]
            t0 = time.perf_counter()
            hits = kb.search(q, k=args.k)
            t1 = time.perf_counter()
            embedder.embed([q])
            t2 = time.perf_counter()
            _, ids = index.search(qv, args.k)
            t3 = time.perf_counter()
            top = _numpy_topk(vectors, qv[0], args.k)
            t4 = time.perf_counter()
            _numpy_topk(vectors, embedder.embed([q])[0], args.k)
            t5 = time.perf_counter()
            for name, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                times[name].append(dt)
            agree += int(ids[0][0] == top[0] and hits[0].chunk.id == chunk_ids[top[0]])

    print(f"{args.queries} queries over {report.chunks} chunks, k={args.k}, all-MiniLM-L6-v2 on CPU")
    print(f"  KnowledgeBase.search (embed + FAISS)   {ms(times['search'])}")
    print(f"  query embedding alone                  {ms(times['embed'])}")
    print(f"  FAISS IndexFlatIP.search alone         {ms(times['faiss'])}")
    print(f"  reference: numpy dot + argpartition    {ms(times['numpy'])}")
    print(f"  reference: embed + numpy               {ms(times['embed+numpy'])}")
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"ratio search / (embed + numpy): {med['search'] / med['embed+numpy']:.2f}x   "
          f"ratio FAISS / numpy: {med['faiss'] / med['numpy']:.2f}x   "
          f"top-1 agreement FAISS vs numpy: {agree}/{len(qs)}")
    print(f"goal: search under 20 ms per query -> {'met' if med['search'] < 0.020 else 'NOT met'}")


def _numpy_topk(vectors: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """Row indices of the ``k`` largest inner products, best first (the brute-force reference)."""
    scores = vectors @ query
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top])]


if __name__ == "__main__":
    main()
