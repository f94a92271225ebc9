"""Declared dependencies match what the package imports (parsed, never guessed).

Every third-party module ``release/`` imports must belong to a distribution declared in
``[project] dependencies``; a module imported only under ``except ImportError`` may come
from an optional extra instead. Every declared dependency must be imported, except the
few whose command line is part of what ``release`` promises (listed with the reason).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

# The standard library of every Python we support: 3.12 renamed _sha256 (3.11) to _sha2.
STDLIB = set(sys.stdlib_module_names) | {"_sha2", "_sha256"}

ROOT = Path(__file__).resolve().parents[1]
# Declared without an import, on purpose.
TOOLS = {
    "gto": "its CLI reads and writes the same registry (README: Why these dependencies)",
    "gitpython": "a core dependency the project promises; gto's Python API runs on it",
    "ruamel-yaml-clib": "libyaml for the YAML DVC reads in `dvc repro` (README: dependencies)",
}
# Files the package ships for users' repositories (workflow scripts), not its own modules.
SHIPPED = ROOT / "release" / "scaffold" / "files"
# Optional modules imported inside functions that first check they are installed.
OPTIONAL = {"huggingface_hub": "cardspec/check.py asks hf_parser_note() before importing it"}
_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}


def _name(requirement: str) -> str:
    """The normalised distribution name of a PEP 508 requirement."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match[0]).lower()


def _guards_import_error(node: ast.Try) -> bool:
    for handler in node.handlers:
        names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(isinstance(n, ast.Name) and n.id in _IMPORT_ERRORS for n in names):
            return True
    return False


def package_imports(package: Path = ROOT / "release") -> dict[str, set[str]]:
    """Top-level third-party modules ``package`` imports, by how: ``module`` (at module
    level), ``function`` (inside a function) and ``guarded`` (under except ImportError)."""
    found: dict[str, set[str]] = {"module": set(), "function": set(), "guarded": set()}

    def visit(node: ast.AST, how: str) -> None:
        if isinstance(node, ast.Try) and _guards_import_error(node):
            for child in node.body:
                visit(child, "guarded")
            for part in (node.handlers, node.orelse, node.finalbody):
                for child in part:
                    visit(child, how)
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and how == "module":
            how = "function"
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top != "release" and top not in STDLIB:
                found[how].add(top)
        for child in ast.iter_child_nodes(node):
            visit(child, how)

    for path in package.rglob("*.py"):
        if path.is_relative_to(SHIPPED):
            continue
        visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), "module")
    return found


def _distributions(modules: set[str]) -> dict[str, set[str]]:
    """Module -> the installed distributions providing it (normalised names)."""
    provided = importlib.metadata.packages_distributions()
    return {m: {_name(d) for d in provided.get(m, [])} for m in modules}


def test_imports_match_declared_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_name(r) for r in project["dependencies"]}
    extras = {
        _name(r)
        for group, reqs in project.get("optional-dependencies", {}).items()
        if group != "dev"
        for r in reqs
    }
    found = package_imports()
    unguarded = found["module"] | found["function"]
    assert unguarded, "no imports found: the parser is broken"

    required = unguarded - set(OPTIONAL)
    undeclared = {m: d for m, d in _distributions(required).items() if not d & declared}
    assert not undeclared, f"imported but not declared in dependencies: {undeclared}"
    assert not set(OPTIONAL) & found["module"], "an optional module is imported at module level"
    optional = (found["guarded"] - required) | (set(OPTIONAL) & unguarded)
    in_no_extra = {m: d for m, d in _distributions(optional).items() if not d & (declared | extras)}
    assert not in_no_extra, f"optional imports in no extra: {in_no_extra}"

    imported = set().union(*_distributions(required | optional).values())
    unused = declared - imported - set(TOOLS)
    assert not unused, f"declared but never imported by release/: {sorted(unused)}"


def test_the_parser_sees_nested_and_guarded_imports(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.py").write_text(
        "import os\nimport yaml.constructor\nfrom release import paths\nfrom . import b\n"
    )
    (tmp_path / "sub" / "b.py").write_text(
        "def f():\n    from jinja2 import Template\n"
        "try:\n    import huggingface_hub\nexcept (ValueError, ImportError):\n    import numpy\n"
        "try:\n    import scipy\nexcept ValueError:\n    pass\n"
    )
    found = package_imports(tmp_path)
    assert found == {
        "module": {"yaml", "numpy", "scipy"},
        "function": {"jinja2"},
        "guarded": {"huggingface_hub"},
    }
