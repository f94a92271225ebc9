"""Sizes the house rules set (issue #20): no module in ``release/`` over 400 lines, no
class over 200, no function over 80 (counted with ``ast``: end_lineno - lineno + 1).
Files shipped into users' repositories (``release/scaffold/files/``) are not ours."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "release"
SHIPPED = PACKAGE / "scaffold" / "files"
LIMITS = {"module": 400, "class": 200, "function": 80}


def measure(package: Path = PACKAGE, root: Path = ROOT) -> dict[str, tuple[str, int]]:
    """Every oversized module, class and function: ``path[:name]`` -> (kind, lines)."""
    out: dict[str, tuple[str, int]] = {}
    for path in sorted(package.rglob("*.py")):
        if path.is_relative_to(SHIPPED):
            continue
        rel = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > LIMITS["module"]:
            out[rel] = ("module", lines)
        for node in ast.walk(ast.parse(text, filename=rel)):
            if isinstance(node, ast.ClassDef):
                kind = "class"
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                kind = "function"
            else:
                continue
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            if size > LIMITS[kind]:
                out[f"{rel}:{node.name}"] = (kind, size)
    return out


def _describe(found: dict[str, tuple[str, int]], keys: set[str]) -> str:
    return "; ".join(
        f"{key} ({found[key][0]}, {found[key][1]} > {LIMITS[found[key][0]]} lines)"
        for key in sorted(keys)
    )


def test_no_module_class_or_function_is_oversized() -> None:
    found = measure()
    assert not found, "split along ideas: " + _describe(found, set(found))


def test_measure_names_each_kind(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(81))
    (tmp_path / "big.py").write_text(
        f"def long():\n{body}\n\n\nclass Small:\n    pass\n" + "\n" * 320, encoding="utf-8"
    )
    (tmp_path / "ok.py").write_text("def short():\n    return 1\n", encoding="utf-8")
    found = measure(tmp_path, tmp_path)
    assert found == {"big.py": ("module", 406), "big.py:long": ("function", 82)}
