"""The layers of docs/architecture.md, checked: imports inside ringpop point down only.

Every module of ``src/ringpop`` belongs to a unit (a top-level module or a subpackage);
each unit has a rank, and a module may import only units of a lower rank (or its own
unit). Imports under ``if TYPE_CHECKING:`` count too: a type-only dependency on a
higher layer is still a dependency. A failure names the importing file, the line and
the two ranks, so a new upward import is caught where it is written.

docs/architecture.md draws the same layers; change both together.
"""

from __future__ import annotations

import ast
from pathlib import Path

from ringpop.receiving import STATUSES

SRC = Path(__file__).resolve().parents[1] / "src" / "ringpop"

# Bottom first. Units of one rank may not import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    # vocabulary and plumbing every layer may use
    ("_version", "errors", "checks", "_native"),
    ("speedups",),
    ("clock", "eventbus", "hashing", "messages", "tlsconfig"),
    ("options", "receiving"),
    ("tchannel", "ring", "stats", "discovery"),
    ("transport",),
    ("membership",),
    ("trace",),
    ("forward", "admin"),
    ("events",),
    ("state",),
    ("actors",),
    ("ringpop",),
    ("integrations", "testing", "dashboard"),
    ("cli",),
    ("__init__", "__main__"),
)
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path, package: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "ringpop"
            ]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] == "ringpop":
                if module == "ringpop":  # from ringpop import x: a unit, or a name of __init__
                    found += [(node.lineno, _from_root(a.name)) for a in node.names]
                else:
                    found.append((node.lineno, module))
    return found


def _from_root(name: str) -> str:
    is_unit = any((SRC / f"{name}{suffix}").exists() for suffix in ("", ".py", ".pyi"))
    return f"ringpop.{name}" if is_unit else "ringpop"


def _violations() -> list[str]:
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC.parent).with_suffix("")
        module = ".".join(relative.parts)
        is_package = path.name == "__init__.py"
        package = module.removesuffix(".__init__") if is_package else module.rsplit(".", 1)[0]
        unit = _unit(module)
        if unit not in RANK:
            problems.append(f"{path}: unit {unit!r} has no layer in tests/test_layers.py")
            continue
        for line, imported in _imports(path, package):
            target = _unit(imported)
            if target == unit:
                continue
            if target not in RANK:
                problems.append(f"{path}:{line}: imports {imported}, whose unit has no layer")
            elif RANK[target] >= RANK[unit]:
                problems.append(
                    f"{path}:{line}: {unit} (layer {RANK[unit]}) imports {imported}"
                    f" (layer {RANK[target]}): imports must point down"
                )
    return problems


def test_imports_point_down() -> None:
    assert _violations() == []


def test_every_unit_has_a_layer() -> None:
    units = {p.stem if p.is_file() else p.name for p in SRC.iterdir() if not p.name.startswith(".")}
    units = {u for u in units if u not in {"py", "__pycache__"} and not u.endswith(".typed")}
    units = {u.split(".")[0] for u in units}  # a built extension: _native.cpython-311-...
    assert units <= set(RANK), sorted(units - set(RANK))


def test_the_checker_catches_an_upward_import(tmp_path: Path) -> None:
    upward = tmp_path / "x.py"
    upward.write_text("from ringpop.forward.http import RequestProxy\nimport ringpop.ringpop\n")
    found = [module for _, module in _imports(upward, "ringpop.membership")]
    assert found == ["ringpop.forward.http", "ringpop.ringpop"]
    assert all(RANK[_unit(m)] > RANK["membership"] for m in found)


def test_wire_statuses_equal_membership_statuses() -> None:
    from ringpop.membership.status import Status

    assert {status.value for status in Status} == STATUSES
