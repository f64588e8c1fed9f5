"""Reading recipe YAML, bounded, while remembering where each dotted path was written.

A recipe is untrusted text: it is read only from a regular file of at most :data:`MAX_BYTES`,
decoded as UTF-8, parsed once with the pure-Python safe loader while nesting deeper than
:data:`MAX_DEPTH` is refused before it can exhaust the stack, and its node graph is refused when
its aliases would expand to more than :data:`MAX_NODES` values (a "billion laughs" document is a
few hundred bytes). The source map records each node once, never walking through an alias.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vlakit.errors import RecipeError

#: Largest recipe file read, in bytes.
MAX_BYTES = 1 << 20
#: Deepest nesting of mappings and sequences in one document.
MAX_DEPTH = 64
#: Most values (scalars, mappings, sequences) one document may expand to, aliases counted in full.
MAX_NODES = 100_000


@dataclass
class SourceMap:
    """Dotted path -> ``file:line`` where the value was last written (later files win)."""

    locations: dict[str, str] = field(default_factory=dict)

    def record(self, node: yaml.Node, path: str, file: str) -> None:
        """Record ``node`` and what it contains; a node reached again through an alias is not
        walked again (its contents keep the location where the anchor was written)."""
        seen: set[int] = set()
        stack: list[tuple[yaml.Node, str]] = [(node, path)]
        while stack:
            node, path = stack.pop()
            self.locations[path] = f"{file}:{node.start_mark.line + 1}"
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    key = str(key_node.value)
                    stack.append((value_node, f"{path}.{key}" if path else key))
            elif isinstance(node, yaml.SequenceNode):
                for i, item in enumerate(node.value):
                    stack.append((item, f"{path}.{i}" if path else str(i)))

    def where(self, path: str) -> str | None:
        """The location of ``path`` or of its nearest written parent."""
        parts = path.split(".")
        while parts:
            key = ".".join(parts)
            if key in self.locations:
                return self.locations[key]
            parts.pop()
        return None


class _DepthTooLarge(yaml.YAMLError):
    def __init__(self, mark: yaml.Mark) -> None:
        super().__init__(f"nesting deeper than {MAX_DEPTH} levels")
        self.problem = str(self)
        self.problem_mark = mark


class BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing nesting deeper than :data:`MAX_DEPTH` while it composes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:  # type: ignore[override]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _DepthTooLarge(self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def expanded_size(root: yaml.Node, limit: int = MAX_NODES) -> int:
    """How many values ``root`` stands for with every alias expanded (counted once per node,
    without expanding); raises :class:`ValueError` past ``limit`` or on a recursive alias."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    # iterative post-order: (node, children done?)
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            children = _children(node)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[key] > limit:
                raise ValueError(f"its aliases expand to more than {limit} values")
            continue
        if key in sizes:
            continue
        if key in active:
            raise ValueError("an alias refers to the node that contains it (a recursive structure)")
        active.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def read_text_bounded(path: Path, what: str = "recipe") -> str:
    """The UTF-8 text of the regular file ``path`` (at most :data:`MAX_BYTES`), or a
    :class:`RecipeError` saying what is wrong with it."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise RecipeError(f"{what} file not found: {path}") from None
    except OSError as exc:
        raise RecipeError(f"cannot read {what} {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (a device, pipe or socket)"
        raise RecipeError(f"cannot read {what} {path}: it is {kind}")
    if info.st_size > MAX_BYTES:
        raise RecipeError(f"{what} {path} is {info.st_size} bytes; recipes are at most {MAX_BYTES} bytes")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise RecipeError(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise RecipeError(f"{what} {path} is larger than {MAX_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RecipeError(
            f"{path}:{line}: {what} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8"
        ) from None


def parse_yaml(text: str, name: str) -> tuple[Any, yaml.Node | None]:
    """Parse one bounded YAML document: (its value, its node graph). ``name`` labels errors."""
    loader = None
    try:
        loader = BoundedLoader(text)  # refuses unprintable characters at once
        node = loader.get_single_node()
        if node is not None:
            expanded_size(node)
            data = loader.construct_document(node)
        else:
            data = None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = getattr(exc, "problem", None) or str(exc)
        raise RecipeError(f"{where}: invalid YAML: {problem}") from None
    except ValueError as exc:  # aliases, recursion, integers too long to convert
        problem = "an integer has too many digits" if "digits" in str(exc) else str(exc)
        raise RecipeError(f"{name}: refused YAML: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, node


def read_yaml(path: Path, sources: SourceMap) -> dict[str, Any]:
    """Parse one YAML file into a mapping, recording the line of every path in ``sources``."""
    text = read_text_bounded(path)
    data, node = parse_yaml(text, str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a mapping of sections, got {type(data).__name__}")
    if node is not None:
        sources.record(node, "", str(path))
    return data
