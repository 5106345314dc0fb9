"""A corpus of broken graph files, one per way a file can be wrong, with what each must say.

Every entry point (`python -m yamlgraph validate`, `load_graph_config`, `manage.py
yamlgraph validate`, `sync`, the system checks) must refuse each of them with exactly one
clear error naming the file (and the line, where a line means something), quickly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: Never set in the test environment: the unset-variable case relies on it.
UNSET_VARIABLE = "YG_BAD_FILES_UNSET_VARIABLE"

GOOD = """\
name: {name}
nodes:
  ask:
    type: interrupt
    message: "Name?"
edges:
  - {{from: START, to: ask}}
  - {{from: ask, to: END}}
"""

_BOMB = 'lol: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"l{i}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)
_SUBGRAPH = """\
name: {name}
nodes:
  inner:
    type: subgraph
    graph: {child}
edges:
  - {{from: START, to: inner}}
  - {{from: inner, to: END}}
"""


@dataclass(frozen=True)
class BadFile:
    """One broken file: its name, content, and what the one error about it must say."""

    name: str
    content: bytes
    message: str  # a regular expression the error must match
    line: int | None  # the line the error must name, None where no line applies

    def write(self, directory: Path) -> Path:
        path = directory / self.name
        path.write_bytes(self.content)
        return path


def _text(name: str, text: str, message: str, line: int | None) -> BadFile:
    return BadFile(name, text.encode("utf-8"), message, line)


def good_graph(name: str) -> str:
    return GOOD.format(name=name)


CORPUS: list[BadFile] = [
    _text("alias_bomb.yaml", good_graph("bomb") + _BOMB, r"alias bomb", 9),
    BadFile(
        "huge.yaml",
        (good_graph("huge") + "description: '" + "x" * 20_000_000 + "'\n").encode(),
        r"file too large: 20,000,\d+ bytes; graph files are limited to 1,000,000",
        None,
    ),
    _text(
        "deep.yaml",
        good_graph("deep") + "config:\n  extra: " + "[" * 5000 + "]" * 5000 + "\n",
        r"nested too deeply: more than 64 levels",
        10,
    ),
    _text(
        "cycle_a.yaml",
        _SUBGRAPH.format(name="cycle-a", child="cycle_b.yaml"),
        r"subgraph cycle: cycle_a\.yaml -> cycle_b\.yaml -> cycle_a\.yaml",
        5,
    ),
    _text(
        "cycle_b.yaml",
        _SUBGRAPH.format(name="cycle-b", child="cycle_a.yaml"),
        r"subgraph cycle: cycle_b\.yaml -> cycle_a\.yaml -> cycle_b\.yaml",
        5,
    ),
    _text(
        "duplicate_top_key.yaml",
        good_graph("dup-top") + "name: again\n",
        r"duplicate key 'name' in the top level: first on line 1, again on line 9",
        9,
    ),
    _text(
        "duplicate_node.yaml",
        good_graph("dup-node").replace(
            "edges:", "  ask:\n    type: interrupt\n    message: again\nedges:"
        ),
        r"duplicate key 'ask' in nodes: first on line 3, again on line 6",
        6,
    ),
    _text(
        "version_list.yaml",
        good_graph("version-list") + "version: [1]\n",
        r"version: must be a version string or number, not a list \[1\]",
        9,
    ),
    _text(
        "name_mapping.yaml",
        good_graph("x").replace("name: x", "name: {a: 1}"),
        r"name: must be a string, not a mapping",
        1,
    ),
    _text(
        "nul.yaml",
        good_graph("nul") + 'description: "a\\0b"\n',
        r"description: a NUL character",
        9,
    ),
    _text(
        "mongodb.yaml",
        good_graph("mongodb") + "checkpointer: {type: mongodb}\n",
        r"checkpointer\.type: unknown checkpointer type 'mongodb'; known types: .*memory",
        9,
    ),
    _text(
        "unset_variable.yaml",
        good_graph("unset-var") + f'checkpointer:\n  type: redis\n  url: "${{{UNSET_VARIABLE}}}"\n',
        rf"checkpointer\.url: environment variable {UNSET_VARIABLE} is not set",
        11,
    ),
    BadFile(
        "binary.yaml",
        b"\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe\x00\x00" * 8,
        r"a binary file, not YAML text: byte 0xff",
        1,
    ),
    BadFile(
        "latin1.yaml",
        good_graph("latin").replace('"Name?"', '"Café?"').encode("latin-1"),
        r"not UTF-8 text: byte 0xe9 .*save the file as UTF-8",
        5,
    ),
    _text("empty.yaml", "", r"the file is empty", None),
    _text("comments.yaml", "# a graph, one day\n# not yet\n", r"the file is empty", None),
    _text("list_root.yaml", "- ask\n- tell\n", r"the file holds a list", 1),
    _text("scalar_root.yaml", "just some words\n", r"the file holds a single value", 1),
]


def write_corpus(directory: Path) -> dict[str, Path]:
    """Write every bad file into `directory`; file name -> path."""
    directory.mkdir(parents=True, exist_ok=True)
    return {bad.name: bad.write(directory) for bad in CORPUS}


def error_line_pattern(bad: BadFile, path: Path) -> re.Pattern[str]:
    """How the one error line about `bad` (written at `path`) must read: `file[:line]: ...`."""
    where = re.escape(str(path)) + (f":{bad.line}" if bad.line else "")
    return re.compile(where + r"(: [\w.\[\]]+)?: .*" + bad.message + ".*")
