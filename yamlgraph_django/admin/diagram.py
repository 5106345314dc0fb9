"""The graph drawn as a picture: an SVG made on the server from the YAML's nodes and edges.

No JavaScript and nothing fetched from anywhere, so the picture shows offline and in any
browser. The layout is layered: each node sits one row below the deepest node that leads
to it (edges that loop back are drawn on the side), nodes are coloured by type, and every
node is one `<g class="node" data-node="NAME">` element, so a session's page can mark the
node it waits at or failed at (`highlight`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from yamlgraph.config import END, START, GraphConfig, kind_of
from yamlgraph.node_types import node_types

#: Fill and border of a node type that gives no `colours` of its own.
PLAIN_COLOURS = ("#fff", "#999")
TERMINAL_COLOURS = ("#374151", "#111827")
#: Border of a highlighted node, per what the session is doing there ("running": the
#: step a live page saw finish last, see static/yamlgraph_django/session_live.js).
HIGHLIGHT_COLOURS = {
    "waiting": "#d97706",
    "failed": "#dc2626",
    "done": "#16a34a",
    "running": "#2563eb",
}
#: The highlight is two classes on the node (`current` and its state) styled by a rule
#: inside the SVG, so a live page moves it by moving the classes.
HIGHLIGHT_STYLE = "".join(
    f".yamlgraph-diagram .node.current.{state} rect{{stroke:{colour};stroke-width:4px}}"
    for state, colour in HIGHLIGHT_COLOURS.items()
)

NODE_WIDTH, NODE_HEIGHT = 150, 44
COLUMN_GAP, ROW_GAP, MARGIN = 40, 56, 24


@dataclass(frozen=True)
class Link:
    source: str
    target: str
    label: str = ""
    dashed: bool = False


def links_of(config: GraphConfig) -> list[Link]:
    """Every arrow of the picture: edges, router routes, loop exits."""
    links: list[Link] = []
    for edge in config.edges:
        for source in edge.sources:
            for target in edge.targets:
                links.append(Link(source, target, edge.condition or "", dashed=edge.conditional))
    routed = {source for edge in config.edges for source in edge.sources}
    for name, node in config.nodes.items():
        if name not in routed:
            for label, target in kind_of(node).routes(node).items():
                links.append(Link(name, str(target), str(label), dashed=True))
    for name, target in config.loop_exits.items():
        links.append(Link(name, target, f"after {config.loop_limits.get(name)} runs", True))
    return links


def _layers(names: list[str], links: list[Link]) -> tuple[dict[str, int], set[Link]]:
    """Row of each node (longest path from START) and the links that loop back."""
    successors: dict[str, list[Link]] = {name: [] for name in names}
    for link in links:
        successors.setdefault(link.source, []).append(link)
    back: set[Link] = set()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(name: str) -> None:
        state[name] = 1
        for link in successors.get(name, ()):
            if state.get(link.target) == 1:
                back.add(link)
            elif link.target not in state:
                visit(link.target)
        state[name] = 2

    visit(START)
    for name in names:
        if name not in state:
            visit(name)
    forward = [link for link in links if link not in back]
    row = {name: 0 for name in names}
    for _ in names:  # longest path on the DAG: relax as often as there are nodes
        changed = False
        for link in forward:
            if link.source in row and link.target in row and row[link.target] <= row[link.source]:
                row[link.target] = row[link.source] + 1
                changed = True
        if not changed:
            break
    row[END] = max(value for name, value in row.items() if name != END) + 1  # always last
    return row, back


def graph_svg(
    config: GraphConfig,
    highlight: Iterable[str] = (),
    *,
    state: str = "waiting",
) -> SafeString:
    """The picture of `config`; nodes in `highlight` get the `current` class and a thick
    border coloured for `state` ("waiting", "failed", "done" or "running")."""
    names = [START, *config.nodes, END]
    links = [link for link in links_of(config) if link.source in names and link.target in names]
    row, back = _layers(names, links)
    rows: dict[int, list[str]] = {}
    for name in names:
        rows.setdefault(row[name], []).append(name)
    widest = max(len(members) for members in rows.values())
    width = MARGIN * 2 + widest * NODE_WIDTH + (widest - 1) * COLUMN_GAP + 120
    height = MARGIN * 2 + len(rows) * NODE_HEIGHT + (len(rows) - 1) * ROW_GAP
    centre: dict[str, tuple[float, float]] = {}
    for index, members in sorted(rows.items()):
        span = len(members) * NODE_WIDTH + (len(members) - 1) * COLUMN_GAP
        left = (width - 120 - span) / 2
        y = MARGIN + index * (NODE_HEIGHT + ROW_GAP) + NODE_HEIGHT / 2
        for position, name in enumerate(members):
            centre[name] = (left + position * (NODE_WIDTH + COLUMN_GAP) + NODE_WIDTH / 2, y)

    marked = set(highlight)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="yamlgraph-diagram" role="img" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'aria-label="{escape(config.name)} graph">',
        "<defs><marker id='yg-arrow' viewBox='0 0 10 10' refX='10' refY='5' "
        "markerWidth='7' markerHeight='7' orient='auto-start-reverse'>"
        "<path d='M0,0 L10,5 L0,10 z' fill='#6b7280'/></marker></defs>",
        f"<style>{HIGHLIGHT_STYLE}</style>",
    ]
    for link in links:
        parts.append(_arrow(link, centre, link in back, width))
    for name in names:
        parts.append(_node(config, name, centre[name], name in marked, state))
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every name and label is escaped above


def _arrow(
    link: Link, centre: dict[str, tuple[float, float]], loops_back: bool, width: float
) -> str:
    (x1, y1), (x2, y2) = centre[link.source], centre[link.target]
    dash = ' stroke-dasharray="5,4"' if link.dashed else ""
    if loops_back:
        side = width - 60
        d = (
            f"M{x1 + NODE_WIDTH / 2:.0f},{y1:.0f} C{side:.0f},{y1:.0f} {side:.0f},{y2:.0f} "
            f"{x2 + NODE_WIDTH / 2:.0f},{y2:.0f}"
        )
        label_x, label_y = side - 4, (y1 + y2) / 2
    else:
        start_y, end_y = y1 + NODE_HEIGHT / 2, y2 - NODE_HEIGHT / 2
        if end_y <= start_y:  # same row: go from the side
            start_y, end_y = y1, y2
        d = f"M{x1:.0f},{start_y:.0f} L{x2:.0f},{end_y:.0f}"
        label_x, label_y = (x1 + x2) / 2 + 4, (start_y + end_y) / 2
    label = ""
    if link.label:
        label = (
            f'<text x="{label_x:.0f}" y="{label_y:.0f}" font-size="10" fill="#4b5563">'
            f"{escape(_short(link.label, 28))}</text>"
        )
    return (
        f'<g class="edge" data-from="{escape(link.source)}" data-to="{escape(link.target)}">'
        f'<path d="{d}" fill="none" stroke="#6b7280" stroke-width="1.4"{dash} '
        f'marker-end="url(#yg-arrow)"/>{label}</g>'
    )


def _node(
    config: GraphConfig, name: str, at: tuple[float, float], current: bool, state: str
) -> str:
    node = config.nodes.get(name)
    kind = node.type if node is not None else name.lower()
    if node is None:
        fill, border = TERMINAL_COLOURS
    else:  # each node type says how it is drawn
        fill, border = kind_of(node).colours or PLAIN_COLOURS
    text_colour = "#fff" if node is None else "#111827"
    classes = f"node node-{escape(kind)}"
    if current:
        classes += f" current {escape(state if state in HIGHLIGHT_COLOURS else 'waiting')}"
    x, y = at[0] - NODE_WIDTH / 2, at[1] - NODE_HEIGHT / 2
    radius = NODE_HEIGHT / 2 if node is None else 8
    subtitle = (
        ""
        if node is None
        else f'<text x="{at[0]:.0f}" y="{at[1] + 13:.0f}" text-anchor="middle" '
        f'font-size="10" fill="#4b5563">{escape(kind)}</text>'
    )
    title_y = at[1] + (4 if node is None else -2)
    return (
        f'<g class="{classes}" data-node="{escape(name)}" data-type="{escape(kind)}">'
        f"<title>{escape(name)} ({escape(kind)})</title>"
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" '
        f'rx="{radius:.0f}" fill="{fill}" stroke="{border}" stroke-width="1.5"/>'
        f'<text x="{at[0]:.0f}" y="{title_y:.0f}" text-anchor="middle" font-size="13" '
        f'font-weight="600" fill="{text_colour}">{escape(_short(name, 20))}</text>'
        f"{subtitle}</g>"
    )


def _short(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def type_colours() -> dict[str, tuple[str, str]]:
    """(fill, border) of every registered node type that has colours, in registry order."""
    return {name: kind.colours for name, kind in node_types().items() if kind.colours}


def legend() -> SafeString:
    """The colours of the node types, as small swatches under the picture."""
    items = "".join(
        f'<span style="display:inline-block;margin:0 12px 4px 0">'
        f'<span style="display:inline-block;width:12px;height:12px;border-radius:3px;'
        f'vertical-align:middle;background:{fill};border:2px solid {border}"></span> '
        f"{escape(kind)}</span>"
        for kind, (fill, border) in type_colours().items()
    )
    return mark_safe(f'<div class="yamlgraph-legend quiet" style="margin-top:6px">{items}</div>')
