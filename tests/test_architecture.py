"""The house rules a reader relies on, checked on every run (issue 9):

- imports run downward only: core <- wallet <- accounts <- payments / downloads / rewards <- portal
  (config wires everything and sits outside the floors); the three middle apps never import each
  other, not even inside a function: they talk through domain events (core.events);
- no app module over ~400 lines (migrations aside), no view or API handler over ~30 lines;
- every transfer kind has a statement category.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FLOORS = {
    "core": set(),
    "wallet": {"core"},
    "accounts": {"core", "wallet"},
    "payments": {"core", "wallet", "accounts"},
    "downloads": {"core", "wallet", "accounts"},
    "rewards": {"core", "wallet", "accounts"},
    "portal": {"core", "wallet", "accounts", "payments", "downloads", "rewards"},
}
PROJECT = set(FLOORS) | {"config", "tests", "bench"}
MAX_MODULE_LINES = 400
MAX_VIEW_LINES = 30


def _modules(app: str) -> list[Path]:
    return [p for p in sorted((ROOT / app).rglob("*.py")) if "migrations" not in p.parts]


def _imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & PROJECT


@pytest.mark.parametrize("app", sorted(FLOORS))
def test_imports_run_downward_only(app):
    wrong = {
        f"{path.relative_to(ROOT)} imports {pkg}"
        for path in _modules(app)
        for pkg in _imported_packages(path) - FLOORS[app] - {app}
    }
    assert not wrong, "Imports against the floors:\n" + "\n".join(sorted(wrong))


@pytest.mark.parametrize("app", sorted(FLOORS))
def test_no_hidden_imports(app):
    """No module found by name at run time (import_string, import_module): what an app uses, it
    imports where a reader can see it, or gets through core.registry / core.events."""
    hidden = [
        str(path.relative_to(ROOT))
        for path in _modules(app)
        if any(word in path.read_text() for word in ("import_string(", "import_module(", "__import__("))
    ]
    assert not hidden, hidden


@pytest.mark.parametrize("app", sorted(FLOORS))
def test_templates_name_no_app_they_may_not_import(app):
    """A template may not name the URLs of an app its code may not import (a higher floor, or a
    sibling on the same floor): the context processor in config gives shared links by name."""
    above = set(FLOORS) - FLOORS[app] - {app}
    wrong = [
        f"{path.relative_to(ROOT)} names {other}:"
        for path in sorted((ROOT / app).rglob("*.html"))
        for other in above
        if f"'{other}:" in path.read_text() or f'"{other}:' in path.read_text()
    ]
    assert not wrong, wrong


@pytest.mark.parametrize("app", sorted(FLOORS))
def test_modules_read_in_one_sitting(app):
    long = {
        str(path.relative_to(ROOT)): n
        for path in _modules(app)
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"Modules over {MAX_MODULE_LINES} lines (split by capability): {long}"


def _is_view_module(path: Path) -> bool:
    return path.stem in ("views", "api") or path.parent.name in ("views", "api")


@pytest.mark.parametrize("app", sorted(FLOORS))
def test_views_are_thin(app):
    long = {}
    for path in filter(_is_view_module, _modules(app)):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                body_start = node.body[0].lineno
                if isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
                    body_start = node.body[1].lineno if len(node.body) > 1 else node.end_lineno
                lines = (node.end_lineno or body_start) - body_start + 1
                if lines > MAX_VIEW_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.name}"] = lines
    assert not long, f"Views/handlers over {MAX_VIEW_LINES} lines: {long}"


def test_every_transfer_kind_has_a_category():
    from wallet.models import KIND_CATEGORY, TransferKind

    assert set(KIND_CATEGORY) == set(TransferKind)
