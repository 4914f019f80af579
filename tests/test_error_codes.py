"""The error-code catalogue is complete: every code the code base can answer with is listed, and nothing else.

The source is read with `ast`: every call of `DomainError` or a subclass (found by walking class
definitions, so a new subclass is covered without touching this test), the codes of Werkzeug's
errors and the fallbacks in app/errors.py, and dict answers that carry a literal `"code"`.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from app import error_codes

ROOT = Path(__file__).resolve().parent.parent
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# Exceptions that carry a code into a DomainError re-raised as `SomeError(exc.code, …)`.
CODE_CARRIERS = {"CodeError"}


def _sources() -> dict[Path, ast.Module]:
    files = [p for folder in ("app", "handlers", "jobs") for p in (ROOT / folder).rglob("*.py")
             if "simulator" not in p.parts and "migrations" not in p.parts]
    return {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(files)}


def _name(node: ast.AST) -> str:
    return ast.unparse(node).split(".")[-1]


def _default_codes(classes: dict[str, ast.ClassDef]) -> dict[str, str | None]:
    """The code a class gives when a call names none: its __init__'s `code` default, or the literal it passes up."""
    defaults: dict[str, str | None] = {}
    for name, node in classes.items():
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                args = item.args.args[1:]
                positional_defaults = dict(zip([a.arg for a in args][len(args) - len(item.args.defaults):],
                                               item.args.defaults))
                if "code" in positional_defaults and isinstance(positional_defaults["code"], ast.Constant):
                    defaults[name] = positional_defaults["code"].value
                for call in ast.walk(item):
                    if (isinstance(call, ast.Call) and ast.unparse(call.func) == "super().__init__" and call.args
                            and isinstance(call.args[0], ast.Constant)):
                        defaults[name] = call.args[0].value
    return defaults


def raised_codes() -> dict[str, list[str]]:
    """code → the places (path:line) that can answer with it."""
    sources = _sources()
    all_classes = {node.name: node for tree in sources.values() for node in ast.walk(tree)
                   if isinstance(node, ast.ClassDef)}
    error_classes = {"DomainError"}
    while True:
        more = {name for name, node in all_classes.items()
                if name not in error_classes and any(_name(base) in error_classes for base in node.bases)}
        if not more:
            break
        error_classes |= more
    defaults = _default_codes({name: all_classes[name] for name in error_classes | CODE_CARRIERS})
    found: dict[str, list[str]] = defaultdict(list)
    unreadable = []
    for path, tree in sources.items():
        relative = path.relative_to(ROOT).as_posix()
        for node in ast.walk(tree):
            where = f"{relative}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Call) and _name(node.func) in error_classes | CODE_CARRIERS:
                cls = _name(node.func)
                if cls in defaults and cls not in ("DomainError",) and "code" not in _init_params(all_classes[cls]):
                    found[defaults[cls]].append(where)  # a fixed code (ValidationFailed)
                    continue
                code = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "code"), None)
                if code is None:
                    found[defaults[cls]].append(where)
                elif isinstance(code, ast.Constant) and isinstance(code.value, str):
                    found[code.value].append(where)
                elif not (isinstance(code, ast.Attribute) and code.attr == "code"):  # exc.code: passed through
                    unreadable.append(f"{where}: {ast.unparse(node)[:80]}")
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values):
                    if isinstance(key, ast.Constant) and key.value == "code" and isinstance(value, ast.Constant):
                        found[value.value].append(where)
            elif relative == "app/errors.py" and isinstance(node, ast.Tuple) and len(node.elts) == 2:
                first = node.elts[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str) and SNAKE.match(first.value):
                    found[first.value].append(where)  # Werkzeug's errors and the fallback
    assert not unreadable, "error codes must be literals (or exc.code passed through):\n" + "\n".join(unreadable)
    return dict(found)


def _init_params(node: ast.ClassDef) -> set[str]:
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            return {a.arg for a in item.args.args}
    return {"code"}  # inherits DomainError's


def test_every_raised_code_is_in_the_catalogue():
    raised = raised_codes()
    missing = {code: places for code, places in raised.items() if code not in error_codes.CATALOGUE}
    assert not missing, "codes missing from app/error_codes.py CATALOGUE:\n" + "\n".join(
        f"  {code!r} raised at {', '.join(places)}" for code, places in sorted(missing.items()))


def test_the_catalogue_lists_no_code_that_is_never_raised():
    unused = sorted(set(error_codes.CATALOGUE) - set(raised_codes()))
    assert not unused, f"codes in app/error_codes.py CATALOGUE that nothing raises: {unused}"


def test_codes_are_snake_case_with_a_status_and_a_meaning():
    for code, (status, meaning) in error_codes.CATALOGUE.items():
        assert SNAKE.match(code), code
        assert all(100 <= s < 600 for s in error_codes.statuses(code)), code
        assert meaning.strip(), code
    assert list(error_codes.CATALOGUE) == sorted(error_codes.CATALOGUE), "keep the catalogue in alphabetical order"


def test_the_openapi_document_describes_every_code(client):
    description = client.get("/api/v1/openapi.json").json["info"]["description"]
    for code in error_codes.CATALOGUE:
        assert f"| `{code}` |" in description, code
