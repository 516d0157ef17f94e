"""The layering the design promises: the core imports no plugin, no LTI and no web code."""

from __future__ import annotations

import ast
from pathlib import Path

import acquis

FORBIDDEN = ("acquis.plugins", "acquis.lti", "acquis.web", "flask")
CORE = Path(acquis.__file__).parent / "core"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_imports_nothing_from_plugins_lti_or_web() -> None:
    offenders = {
        f"{path.relative_to(CORE.parent)}: {name}"
        for path in CORE.rglob("*.py")
        for name in _imports(path)
        if name.startswith(FORBIDDEN)
    }
    assert offenders == set()


def test_the_architecture_check_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from acquis.web.app import create_app\nimport flask\n", encoding="utf-8")
    assert {n for n in _imports(bad) if n.startswith(FORBIDDEN)} == {"acquis.web.app", "flask"}


def test_builtin_adapters_register_through_the_entry_point_group() -> None:
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="acquis.plugins")}
    assert "openbadges" in names
