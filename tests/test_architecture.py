"""Import rules: services never import each other; libs/common imports no service or gateway."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("training", "evaluation", "finance", "awards", "indicators")
PACKAGES = {name: ROOT / "services" / name / "src" / name for name in SERVICES}
PACKAGES["gateway"] = ROOT / "gateway" / "src" / "gateway"
COMMON = ROOT / "libs" / "common" / "src" / "common"


def imported_top_levels(path: Path) -> set[str]:
    """Top-level packages imported anywhere in a file (including inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def violations(package_dir: Path, forbidden: set[str]) -> list[str]:
    """`file: package` for every forbidden import below a folder."""
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        for name in sorted(imported_top_levels(path) & forbidden):
            found.append(f"{path.relative_to(ROOT)}: imports {name}")
    return found


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_no_service_imports_another(name: str) -> None:
    others = set(PACKAGES) - {name}
    assert violations(PACKAGES[name], others) == []


def test_common_imports_no_service_or_gateway() -> None:
    assert violations(COMMON, set(PACKAGES)) == []


def test_the_check_can_fail(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("def f():\n    from evaluation.models import Certificate\n")
    assert imported_top_levels(tmp_path / "bad.py") == {"evaluation"}


def test_service_logic_does_not_import_fastapi() -> None:
    """service.py holds business logic only (the house style)."""
    offenders = [
        str(path.relative_to(ROOT))
        for directory in PACKAGES.values()
        for path in directory.rglob("service.py")
        if "fastapi" in imported_top_levels(path) or "starlette" in imported_top_levels(path)
    ]
    assert offenders == []
