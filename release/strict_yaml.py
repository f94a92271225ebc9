"""YAML for settings files: ``yaml.safe_load`` with the hostile cases refused.

A settings file is small and plain. :func:`load_yaml` refuses explicit tags ("tags are
not allowed", whether ``!!python/object`` or ``!!str``), duplicate keys (YAML would
silently keep the last), nesting deeper than :data:`MAX_YAML_DEPTH`, files over
:data:`MAX_YAML_BYTES`, and alias bombs: anchors that expand a few hundred kilobytes
into gigabytes of values (the aliases are counted, and the expanded size measured on
the node graph before any value is built). Every refusal is one ``ConfigError`` line
with the file and line. Only ``release.config`` calls this for settings.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from release.errors import ConfigError

# ---------------------------------------------------------------------------- limits
# A settings file is small: these limits refuse a hostile one (an alias bomb expands
# 815 KB into gigabytes) before any of it is turned into Python objects.
MAX_YAML_BYTES = 512 * 1024
MAX_YAML_ALIASES = 100
MAX_YAML_NODES = 200_000  # after expanding aliases
MAX_YAML_DEPTH = 32


class _Refused(yaml.YAMLError):
    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class StrictLoader(yaml.SafeLoader):
    """``yaml.safe_load`` plus: no tags, no duplicate keys, bounded aliases and nesting.

    YAML 1.2 floats without a dot (``1e9``) are numbers, as a reader of the file expects.
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise _Refused(f"more than {MAX_YAML_ALIASES} aliases", event.start_mark)
        elif getattr(event, "tag", None) is not None:
            raise _Refused("tags are not allowed", event.start_mark)
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise _Refused(f"nested more than {MAX_YAML_DEPTH} levels", event.start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if duplicate:
                raise _Refused(f"duplicate key {str(key)[:60]!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(path: str | os.PathLike[str], text: str | None = None) -> Any:
    """Parse a settings file with :class:`StrictLoader`; None when it holds no document."""
    path = Path(path)
    if text is None:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise ConfigError(
                f"{path} is {size} bytes; a settings file may hold at most {MAX_YAML_BYTES}",
                "remove generated or repeated content",
            )
        text = path.read_text(encoding="utf-8", errors="replace")
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, path)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        if isinstance(exc, _Refused):
            raise ConfigError(f"{path}{where}: {exc.problem}", _REFUSED_FIX) from None
        raise ConfigError(f"{path}{where} is not valid YAML", "fix the syntax") from None
    except RecursionError:
        raise ConfigError(f"{path} nests too deeply", _REFUSED_FIX) from None
    finally:
        loader.dispose()


_REFUSED_FIX = "write plain YAML: mappings, lists and scalars, each key once"


def _check_expansion(root: Any, path: Path) -> None:
    """Refuse documents whose aliases expand past MAX_YAML_NODES nodes."""
    sizes: dict[int, int] = {}

    def size(node: Any) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = 1  # a recursive alias counts once
        total = 1
        if isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(v) for v in node.value)
        total = min(total, MAX_YAML_NODES + 1)
        sizes[id(node)] = total
        return total

    if size(root) > MAX_YAML_NODES:
        raise ConfigError(
            f"{path} expands to more than {MAX_YAML_NODES} values through its aliases",
            _REFUSED_FIX,
        )
