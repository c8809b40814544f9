"""The project's size rule, for the command-line modules: under ~400 lines each, or the
reason written at the top (a module docstring that mentions 400)."""

from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).resolve().parents[2] / "src" / "ringpop" / "cli"
LIMIT = 400


def test_cli_modules_are_small_or_say_why() -> None:
    modules = sorted(CLI.glob("*.py"))
    assert len(modules) > 10  # the directory was found
    too_big = []
    for path in modules:
        text = path.read_text()
        lines = text.count("\n")
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if lines > LIMIT and str(LIMIT) not in docstring:
            too_big.append(f"{path.name}: {lines} lines, no reason in its docstring")
    assert too_big == []


def test_every_cli_module_says_what_it_holds() -> None:
    missing = [
        p.name
        for p in sorted(CLI.glob("*.py"))
        if p.name != "__init__.py" and not ast.get_docstring(ast.parse(p.read_text()))
    ]
    assert missing == []
