"""Load a catalogue YAML and report every problem with its path (and line) in the file."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from control_tower.catalog.model import Catalog, reference_problems

DEFAULT_CATALOG = "swan.yaml"


@dataclass(frozen=True)
class Problem:
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path} (line {self.line})" if self.line else self.path
        return f"{where}: {self.message}"


class CatalogError(Exception):
    def __init__(self, source: str, problems: list[Problem]) -> None:
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(map(str, problems)))
        self.source = source
        self.problems = problems


def format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(root)"


def _line_index(node: yaml.Node, path: tuple[Any, ...], index: dict[tuple[Any, ...], int]) -> None:
    # A mapping entry keeps its key's line: a block value starts on the line after the key.
    index.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            index[(*path, key.value)] = key.start_mark.line + 1
            _line_index(value, (*path, key.value), index)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*path, i), index)


def _duplicate_keys(node: yaml.Node, path: tuple[Any, ...]) -> list[Problem]:
    """YAML keeps the last of two equal keys without a word; the catalogue reports them."""
    found: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if name is not None and name != "<<":
                if name in seen:
                    found.append(
                        Problem(
                            format_path((*path, name)),
                            key.start_mark.line + 1,
                            f"duplicate key {name!r}: only the last one would count",
                        )
                    )
                seen.add(name)
            found += _duplicate_keys(value, (*path, name))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found += _duplicate_keys(item, (*path, i))
    return found


def _line_for(index: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in index:
            return index[loc[:end]]
    return None


def parse_catalog(text: str, source: str) -> Catalog:
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise CatalogError(source, [Problem("(file)", line, f"not valid YAML: {exc}")]) from exc
    if not isinstance(data, dict):
        raise CatalogError(source, [Problem("(root)", 1, "the catalogue must be a mapping")])
    lines: dict[tuple[Any, ...], int] = {}
    if root is not None:
        _line_index(root, (), lines)
    # Top-level `x-…` keys hold YAML anchors to reuse, as OpenAPI's extensions do.
    data = {k: v for k, v in data.items() if not str(k).startswith("x-")}
    problems = _duplicate_keys(root, ()) if root is not None else []
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as exc:
        problems += [
            Problem(format_path(tuple(e["loc"])), _line_for(lines, tuple(e["loc"])), e["msg"])
            for e in exc.errors()
        ]
    problems += [
        Problem(format_path(loc), _line_for(lines, loc), msg)
        for loc, msg in reference_problems(data)
    ]
    if problems:
        raise CatalogError(source, problems)
    return catalog


def load_catalog(path: Path) -> Catalog:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(str(path), [Problem("(file)", None, str(exc))]) from exc
    return parse_catalog(text, str(path))


def default_catalog_text() -> str:
    return resources.files("control_tower.catalog").joinpath(DEFAULT_CATALOG).read_text("utf-8")


def load_default_catalog() -> Catalog:
    return parse_catalog(default_catalog_text(), f"(built-in) {DEFAULT_CATALOG}")


def load_configured_catalog(path: Path | None) -> Catalog:
    """The catalogue at `path` (`CT_CATALOG`), or the default one."""
    return load_catalog(path) if path else load_default_catalog()
