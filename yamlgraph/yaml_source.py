"""YAML loading that remembers the line of every key, so errors can point at it.

Loading is bounded, because graph files may come from anyone who can write to a graph
directory: a file larger than MAX_SOURCE_CHARS, nesting deeper than MAX_DEPTH or aliases
expanding to more than MAX_NODES values is refused with an error saying which limit,
instead of hanging or overflowing the stack. Duplicate keys, non-scalar keys, NUL
characters and lone surrogates are refused too (each naming its line), since YAML's
"last key wins" and such characters silently turn into something the author did not
write.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

YamlPath = tuple[str | int, ...]

#: Graph files are hand-written: 1 MB is far beyond any real one and still parses in ~1 s.
MAX_SOURCE_CHARS = 1_000_000
#: Nesting of mappings and lists; a graph needs about 8.
MAX_DEPTH = 64
#: Values after alias expansion (an "alias bomb" of a few lines expands to billions).
MAX_NODES = 200_000

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~10x faster
_MERGE_TAG = "tag:yaml.org,2002:merge"
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class YamlProblem:
    """One reason a YAML document cannot be used: where (path and 1-based line) and what."""

    path: YamlPath
    line: int | None
    message: str


class YamlSourceError(ValueError):
    """The text is not a usable YAML document; carries every problem found."""

    def __init__(self, problems: list[YamlProblem]):
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))


class LineMap:
    """Maps a YAML path such as ("nodes", "ask", "resume_key") to its 1-based line."""

    def __init__(self) -> None:
        self._lines: dict[YamlPath, int] = {}

    def record(self, path: YamlPath, line: int) -> None:
        self._lines.setdefault(path, line)

    def line(self, path: YamlPath) -> int | None:
        """The line of `path`, else of its nearest recorded parent."""
        path = tuple(path)
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return self._lines.get((), None)


def format_path(path: YamlPath) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def read_source(path: str | Path) -> str:
    """The text of a YAML file: UTF-8 (a BOM is allowed), at most MAX_SOURCE_CHARS.

    Raises YamlSourceError saying what is wrong (too large, not UTF-8 with the line of
    the first bad byte) and OSError when the file cannot be read at all.
    """
    file = Path(path)
    with file.open("rb") as handle:
        data = handle.read(MAX_SOURCE_CHARS * 4 + 1)  # UTF-8 uses at most 4 bytes a char
        if len(data) > MAX_SOURCE_CHARS * 4:
            size = file.stat().st_size
            raise YamlSourceError([_too_large(size, "bytes")])
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        binary = b"\x00" in data[:8192]
        what = "a binary file, not YAML text" if binary else "not UTF-8 text"
        raise YamlSourceError(
            [
                YamlProblem(
                    (),
                    line,
                    f"{what}: byte 0x{data[exc.start]:02x} at offset {exc.start} "
                    "cannot be decoded as UTF-8 (save the file as UTF-8)",
                )
            ]
        ) from None
    if len(text) > MAX_SOURCE_CHARS:
        raise YamlSourceError([_too_large(len(text), "characters")])
    return text


def _too_large(size: int, unit: str) -> YamlProblem:
    return YamlProblem(
        (),
        None,
        f"file too large: {size:,} {unit}; graph files are limited to "
        f"{MAX_SOURCE_CHARS:,} characters",
    )


def load_yaml(text: str) -> tuple[Any, LineMap]:
    """Parse `text` safely and return (data, line map).

    Raises yaml.YAMLError on bad syntax and YamlSourceError when a limit is passed or
    the document has duplicate keys, non-scalar keys, NUL characters or lone surrogates.
    """
    if len(text) > MAX_SOURCE_CHARS:
        raise YamlSourceError([_too_large(len(text), "characters")])
    try:
        _check_depth(text, _LOADER)
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError:
        if _LOADER is not yaml.SafeLoader:
            # PyYAML's own parser words errors better than libyaml (which also gives up
            # on deep nesting before our limit is seen); only run on a broken file.
            _check_depth(text, yaml.SafeLoader)
        raise
    lines = LineMap()
    if root is None:
        return None, lines
    lines.record((), root.start_mark.line + 1)
    builder = _Builder(lines)
    data = builder.build(root, (), 0)
    if builder.problems:
        raise YamlSourceError(builder.problems)
    return data, lines


def _check_depth(text: str, loader: type) -> None:
    """Refuse nesting deeper than MAX_DEPTH before composing (the composer recurses)."""
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlSourceError(
                    [
                        YamlProblem(
                            (),
                            event.start_mark.line + 1,
                            f"nested too deeply: more than {MAX_DEPTH} levels of mappings "
                            "and lists",
                        )
                    ]
                )
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1


class _Builder:
    """Builds plain Python data from composed nodes, recording lines and problems."""

    def __init__(self, lines: LineMap) -> None:
        self.lines = lines
        self.problems: list[YamlProblem] = []
        self.count = 0
        self.own_keys: dict[int, set[int]] = {}
        self.constructor = yaml.SafeLoader("")

    def problem(self, path: YamlPath, node: yaml.Node, message: str) -> None:
        found = YamlProblem(path, node.start_mark.line + 1, message)
        if not any((p.line, p.message) == (found.line, found.message) for p in self.problems):
            self.problems.append(found)  # an aliased node is visited once per alias

    def build(self, node: yaml.Node, path: YamlPath, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            self.stop(
                path,
                node,
                f"aliases expand to more than {MAX_NODES:,} values (an alias "
                "bomb?); graph files are limited to that many",
            )
        if depth > MAX_DEPTH:
            self.stop(
                path,
                node,
                f"nested too deeply through aliases (a recursive alias?): "
                f"more than {MAX_DEPTH} levels",
            )
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item_node in enumerate(node.value):
                child = (*path, index)
                self.lines.record(child, item_node.start_mark.line + 1)
                items.append(self.build(item_node, child, depth + 1))
            return items
        value = self.constructor.construct_object(node, deep=True)
        if isinstance(value, str):
            self.check_text(value, path, node)
        return value

    def stop(self, path: YamlPath, node: yaml.Node, message: str) -> None:
        """Give up: a limit was passed (the problems found so far are kept)."""
        self.problem(path, node, message)
        raise YamlSourceError(self.problems)

    def mapping(self, node: yaml.MappingNode, path: YamlPath, depth: int) -> dict[Any, Any]:
        own = self.own_keys.get(id(node))
        if own is None:  # before flattening; an aliased mapping is flattened once
            own = {id(k) for k, _v in node.value if k.tag != _MERGE_TAG}
            self.own_keys[id(node)] = own
        self.constructor.flatten_mapping(node)  # `<<: *base` merges: own keys override those
        result: dict[Any, Any] = {}
        own_lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(path, key_node, "a key must be a plain value, not a mapping or list")
                continue
            key = self.constructor.construct_object(key_node, deep=True)
            if isinstance(key, str):
                self.check_text(key, path, key_node)
            child = (*path, key)
            line = key_node.start_mark.line + 1
            if id(key_node) in own:
                if key in own_lines:
                    self.problem(
                        child,
                        key_node,
                        f"duplicate key '{key}' in {format_path(path) or 'the top level'}: "
                        f"first on line {own_lines[key]}, again on line {line}",
                    )
                    continue
                own_lines[key] = line
            self.lines.record(child, line)
            result[key] = self.build(value_node, child, depth + 1)
        return result

    def check_text(self, text: str, path: YamlPath, node: yaml.Node) -> None:
        if "\x00" in text:
            self.problem(path, node, "a NUL character (\\0) is not allowed in a string")
        elif _SURROGATE.search(text):
            self.problem(path, node, "a lone surrogate (\\ud800-\\udfff) is not valid text")
