"""Knowledge-base fakes: a deterministic bag-of-words embedder (nothing downloaded) and sample documents."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "knowledge_base" / "samples" / "brightline-social-care-playbook.md"


class FakeEmbedder:
    """Hashed bag of words (md5 per lower-cased word, so stable across processes), L2-normalised.

    Records every text it embeds, so tests can assert what was (not) re-embedded; ``fail_after`` makes it
    raise once that many texts have been embedded, to simulate a crash mid-build.
    """

    def __init__(self, name: str = "fake-bow-64", dim: int = 64, fail_after: int | None = None) -> None:
        self.name, self.dim, self.fail_after = name, dim, fail_after
        self.calls: list[list[str]] = []

    @property
    def embedded(self) -> list[str]:
        return [t for call in self.calls for t in call]

    def embed(self, texts: list[str]) -> np.ndarray:
        if self.fail_after is not None and len(self.embedded) + len(texts) > self.fail_after:
            raise RuntimeError("simulated crash while embedding")
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def playbook() -> Path:
    return PLAYBOOK


RULES_TXT = """Acme support rules
These apply to every chat and email.

R1: Greet the customer by name in the first reply.
Use the name from the ticket.

R2: Refunds are never promised in chat.
Send refund requests to the billing team instead.

SEC-4: Never ask for a password or a one-time code.
"""


@pytest.fixture
def rules_txt(tmp_path: Path) -> Path:
    path = tmp_path / "acme-rules.txt"
    path.write_text(RULES_TXT)
    return path


def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal valid PDF (Helvetica text, one page per list of lines), written by hand with a correct xref."""
    n = len(pages)
    font_obj = 3 + 2 * n
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(n))
               + b"] /Count %d >>" % n]
    for i, lines in enumerate(pages):
        ops = [b"BT /F1 11 Tf 72 740 Td 14 TL"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(b"(" + escaped.encode("latin-1") + b") Tj T*")
        stream = b"\n".join(ops + [b"ET"])
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                       b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (4 + 2 * i, font_obj))
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
