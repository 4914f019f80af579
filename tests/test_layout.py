"""The import rule of the layout: handlers → app.services → models; jobs → app.services → models."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED_IMPORTERS_OF = {"handlers": {"app/__init__.py", "app/cli.py"}, "jobs": {"app/__init__.py", "app/cli.py"}}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def python_files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts]


def test_nothing_but_the_app_factory_and_cli_imports_handlers_or_jobs():
    offenders = []
    for path in python_files("app", "models", "handlers", "jobs"):
        relative = path.relative_to(ROOT).as_posix()
        for top, allowed in ALLOWED_IMPORTERS_OF.items():
            if relative.startswith(top + "/") or relative in allowed:
                continue
            if any(name == top or name.startswith(top + ".") for name in imported_modules(path)):
                offenders.append(f"{relative} imports {top}")
    assert offenders == []


def test_models_import_neither_services_nor_handlers():
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in python_files("models") for name in imported_modules(path)
        if name.startswith(("app", "handlers", "jobs"))
    ]
    assert offenders == []


def test_wechatpy_is_used_only_inside_the_gateway():
    offenders = [
        str(path.relative_to(ROOT))
        for path in python_files("app", "models", "handlers", "jobs")
        if not path.relative_to(ROOT).as_posix().startswith("app/wechat/")
        and any(name.split(".")[0] == "wechatpy" for name in imported_modules(path))
    ]
    assert offenders == []


# Services flush; the boundary (a request's or a job step's unit of work) commits. Sending is the
# documented exception (docs/ARCHITECTURE.md): a claim must be committed before WeChat is called,
# mid-pass, and the outcomes after.
SERVICES_THAT_COMMIT = {"app/services/delivery.py", "app/services/group_robots.py"}


def test_services_do_not_commit_except_the_sending_machinery():
    found = []
    for path in python_files("app"):
        relative = path.relative_to(ROOT).as_posix()
        if not relative.startswith("app/services/") or relative in SERVICES_THAT_COMMIT:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit":
                found.append(f"{relative}:{node.lineno}")
    assert not found, f"commit() in services (move it to the handler or job step): {found}"


def test_handlers_do_not_commit_by_hand():
    found = [f"{path.relative_to(ROOT).as_posix()}:{node.lineno}" for path in python_files("handlers")
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit"]
    assert not found, f"commit() in handlers (use unit_of_work): {found}"
