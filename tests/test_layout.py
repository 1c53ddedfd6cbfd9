"""The package's shape, read from its import statements: wings by concern, no cycles, no upward imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "nmt"
# Lower numbers sit lower in the house: a module may import its own wing and anything lower, never higher
# or sideways. The shared leaves at the package root (checkpoint, errors, tokens, ...) are level 0.
# nmt.api, the Python API, sits above the commands it shares code with.
WING_LEVELS = {"data": 1, "models": 1, "inference": 2, "training": 3, "analysis": 3, "serving": 3, "cli": 4, "api": 5}
# The package's __init__ re-exports nmt.api, importing it on first use (and for type checkers).
ALLOWED_EDGES = {("nmt", "nmt.api")}
MAX_LINES = 450


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported_modules(path: Path) -> set[str]:
    """Every nmt module `path` imports, at the top or inside a function or TYPE_CHECKING block.

    `from nmt.models import checks` names the module nmt.models.checks when one exists, else
    the package nmt.models (whose __init__ defines the name).
    """
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "nmt")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "nmt":
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    return found & set(MODULES)


GRAPH = {name: imported_modules(path) - {name} for name, path in MODULES.items()}


def wing(name: str) -> str:
    """The wing a module belongs to: the subpackage under nmt/, or "" for the shared leaves at the root."""
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in WING_LEVELS) else ""


def level(name: str) -> int:
    return WING_LEVELS.get(wing(name), 0)


def test_the_import_reader_sees_known_edges():
    assert "nmt.inference.translation" in GRAPH["nmt.training.validation"]
    assert "nmt.models.checks" in GRAPH["nmt.models.attention"]
    assert "nmt.errors" in GRAPH["nmt.checkpoint"]


def test_every_module_belongs_to_a_known_wing_or_the_root():
    unknown = {wing(name) for name in MODULES} - set(WING_LEVELS) - {"", "configs"}
    assert not unknown, f"new wing(s) {unknown}: give them a level in WING_LEVELS"


def test_no_module_imports_one_that_imports_it_back():
    cycles = []
    state: dict[str, str] = {}

    def visit(name: str, stack: list[str]) -> None:
        state[name] = "open"
        for target in sorted(GRAPH[name]):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, [*stack, target])
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def test_wings_import_only_their_own_wing_and_lower_ones():
    upward = [f"{source} -> {target}" for source, targets in GRAPH.items() for target in targets
              if wing(source) != wing(target) and level(target) >= level(source)
              and (source, target) not in ALLOWED_EDGES]
    assert not upward, "imports that run up or sideways: " + ", ".join(sorted(upward))


@pytest.mark.parametrize("folder", ["nmt", "scripts"])
def test_no_source_file_is_over_the_line_limit(folder):
    long_files = {str(path.relative_to(REPO)): count for path in (REPO / folder).rglob("*")
                  if path.suffix in (".py", ".js")  # the explorer page's modules too
                  and (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long_files, f"split these along their seams: {long_files}"
