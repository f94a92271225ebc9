"""Which settings a command reads: every field access on the typed settings, recorded.

``record_reads()`` patches the settings dataclasses' attribute lookup for the duration of a
``with`` block and collects the dotted path of each field read on a ``Settings`` tree
(``data.seed``, ``evaluate.slices.bins``). Reads made while ``params.yaml`` is being loaded
and checked (``settings_from_dict``: types, bounds, cross-checks) are not counted: they
refuse bad settings, they do not shape a stage's outputs. A whole dataclass turned into a
dict (``dataclasses.asdict``) reads each of its fields, so each is recorded.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import release.config as config


def settings_classes(root: type = config.Settings) -> set[type]:
    """The dataclasses a ``Settings`` tree is made of."""
    found: set[type] = set()
    todo = [root]
    while todo:
        cls = todo.pop()
        if cls in found:
            continue
        found.add(cls)
        for hint in typing.get_type_hints(cls).values():
            for tp in (hint, *typing.get_args(hint)):
                for inner in (tp, *typing.get_args(tp)):
                    if dataclasses.is_dataclass(inner) and isinstance(inner, type):
                        todo.append(inner)
    return found


@contextmanager
def record_reads() -> Iterator[set[str]]:
    """Yield a set that fills with the paths of the leaf settings read inside the block."""
    reads: set[str] = set()
    where: dict[int, tuple[Any, str]] = {}  # id -> (instance, its path)
    loading = [0]

    def register(obj: Any, path: str) -> None:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            where[id(obj)] = (obj, path)
            for f in dataclasses.fields(obj):
                register(object.__getattribute__(obj, f.name), f"{path}{f.name}.")
        elif isinstance(obj, list):
            for item in obj:  # release.deploy.canary.steps[]: dataclasses in a list
                register(item, path.rstrip(".") + "[].")
        elif isinstance(obj, dict):
            for key, value in obj.items():
                register(value, f"{path}{key}.")

    def getattribute(self: Any, name: str) -> Any:
        value = object.__getattribute__(self, name)
        entry = where.get(id(self))
        if loading[0] or entry is None or entry[0] is not self:
            return value
        if name in names[type(self)]:
            if not dataclasses.is_dataclass(value):  # a section: its fields count, not it
                reads.add(entry[1] + name)
        elif name == "__dict__":
            reads.add(entry[1] + "*")
        return value

    original_load = config.settings_from_dict
    original_init = config.Settings.__init__

    def settings_from_dict(raw: Any, source: str = config.PARAMS_FILE) -> config.Settings:
        loading[0] += 1
        try:
            return original_load(raw, source)
        finally:
            loading[0] -= 1

    def init(self: config.Settings, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        register(self, "")

    classes = settings_classes()
    names = {cls: {f.name for f in dataclasses.fields(cls)} for cls in classes}
    saved = {cls: cls.__dict__.get("__getattribute__") for cls in classes}
    try:
        for cls in classes:
            cls.__getattribute__ = getattribute  # type: ignore[method-assign]
        config.settings_from_dict = settings_from_dict  # type: ignore[assignment]
        config.Settings.__init__ = init  # type: ignore[method-assign]
        yield reads
    finally:
        config.Settings.__init__ = original_init  # type: ignore[method-assign]
        config.settings_from_dict = original_load
        for cls, attr in saved.items():
            if attr is None:
                del cls.__getattribute__
            else:
                cls.__getattribute__ = attr  # type: ignore[method-assign]
