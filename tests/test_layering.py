"""Import layering of docs/design.md section 1, read statically from the package's source (no imports run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "genoattn"
LIGHTNING = ("lightning", "pytorch_lightning")

# package -> module prefixes its files must not import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "attention": ("genoattn.data", "genoattn.models", "genoattn.lit", "genoattn.inference", "genoattn.bench",
                  "genoattn.train", "genoattn.predict", *LIGHTNING),
    "data": ("genoattn.attention", "genoattn.models", "genoattn.lit", "genoattn.inference", "genoattn.bench"),
    "models": ("genoattn.lit", "genoattn.inference", "genoattn.bench", *LIGHTNING),
    "lit": ("genoattn.inference", "genoattn.bench"),
}


def imported_modules(path: Path) -> set[str]:
    """Absolute names imported anywhere in ``path`` (function bodies and TYPE_CHECKING blocks too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:  # "from a.b import c" -> a.b.c
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for name in sorted(imported_modules(path)):
            if any(name == bad or name.startswith(bad + ".") for bad in forbidden):
                found.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return found


def test_imported_modules_sees_nested_and_from_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import os\nfrom genoattn.data import vocab\n\ndef f():\n    import pytorch_lightning as pl\n")
    assert imported_modules(source) == {"os", "genoattn.data.vocab", "pytorch_lightning"}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_point_one_way(package):
    assert (PACKAGE / package).is_dir()
    assert violations(package, FORBIDDEN[package]) == []


def test_models_take_only_the_vocabulary_from_data():
    """models/ may know the token ids (genoattn.data.vocab) and nothing else of the data package."""
    allowed = {"genoattn.data.vocab"}
    found = []
    for path in sorted((PACKAGE / "models").rglob("*.py")):
        for name in imported_modules(path):
            if name.startswith("genoattn.data") and not any(name == a or name.startswith(a + ".") for a in allowed):
                found.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert found == []
