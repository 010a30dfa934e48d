"""Dependencies run one way: assistant <- knowledge_base <- training <- eval <- supportlens <- app / bench.

Every import counts, including the ones inside functions (a lazy import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Each package and what it may import of ours (besides itself).
ALLOWED = {
    "assistant": set(),
    "knowledge_base": {"assistant"},
    "training": {"assistant"},
    "eval": {"assistant", "knowledge_base", "training"},
    "supportlens": {"assistant", "knowledge_base", "training", "eval"},
}
OURS = set(ALLOWED) | {"app", "bench", "tools", "tests"}


def imports_of(path: Path) -> set[str]:
    """Top-level names of the absolute imports in ``path``, wherever in the file they are."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def violations(package: str, root: Path = REPO) -> list[str]:
    """``file: imported package`` for each import of ours that ``package`` may not make."""
    return [f"{path.relative_to(root)}: {name}" for path in sorted((root / package).rglob("*.py"))
            for name in sorted(imports_of(path) & OURS - ALLOWED[package] - {package})]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_dependencies_run_one_way(package):
    assert violations(package) == []


def test_the_check_sees_a_lazy_import(tmp_path):
    (tmp_path / "assistant").mkdir()
    (tmp_path / "assistant" / "service.py").write_text("def f():\n    from knowledge_base.store import KnowledgeBase\n")
    assert violations("assistant", tmp_path) == ["assistant/service.py: knowledge_base"]
