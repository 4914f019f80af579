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
