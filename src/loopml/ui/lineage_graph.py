"""The lineage graph of the model version and run pages, drawn on the server as SVG (no
script): datasets (and the versions they were cut from) -> runs -> model versions -> exports
and the deployments serving them, one column per kind, each node a link to its page.

The graph is built from what the pages already read: the registry's lineage of a version
(:func:`loopml.registry.lineage.build_lineage`), the datasets a run logged as inputs, the
versions a run produced, each version's exports and the deployment records whose routes
resolve to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from loopml.core.entities import DatasetVersion, Deployment, ModelVersion, Run
from loopml.core.errors import LoopmlError
from loopml.registry import ModelRegistry
from loopml.registry.lineage import Lineage

__all__ = ["LineageGraph", "Node", "graph_svg", "run_graph", "version_graph"]

#: The columns, left to right.
KINDS = ("source", "dataset", "run", "model", "serving")
_NODE_W, _NODE_H, _GAP_X, _GAP_Y, _PAD = 170, 34, 60, 12, 4


@dataclass(frozen=True)
class Node:
    """A node: its kind (a column of :data:`KINDS`), what it shows and where it links."""

    key: str
    kind: str
    label: str
    detail: str
    href: str
    current: bool = False


@dataclass
class LineageGraph:
    """Nodes by key (in insertion order) and directed edges between keys."""

    nodes: dict[str, Node] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)

    def add(self, node: Node) -> str:
        """Add ``node`` (the first one of a key wins) and return its key."""
        self.nodes.setdefault(node.key, node)
        return node.key

    def link(self, source: str, target: str) -> None:
        """An edge from ``source`` to ``target``."""
        self.edges.add((source, target))


def _seg(text: object) -> str:
    from urllib.parse import quote

    return quote(str(text), safe="")


def _dataset(d: DatasetVersion, *, kind: str = "dataset") -> Node:
    return Node(
        f"dataset:{d.ref}",
        kind,
        d.ref,
        f"{d.rows:,} rows",
        f"/datasets/{_seg(d.name)}/{d.version}",
    )


def _run(run: Run, *, current: bool = False) -> Node:
    return Node(
        f"run:{run.run_id}",
        "run",
        run.name or run.run_id[:8],
        f"run {run.run_id[:8]}",
        f"/runs/{run.run_id}",
        current,
    )


def _model(v: ModelVersion, aliases: Iterable[str] = (), *, current: bool = False) -> Node:
    detail = ", ".join(aliases) or v.approval.value
    return Node(
        f"model:{v.ref}",
        "model",
        v.ref,
        detail,
        f"/models/{_seg(v.name)}/{v.version}",
        current,
    )


def _add_datasets(
    graph: LineageGraph,
    registry: ModelRegistry,
    datasets: Iterable[tuple[DatasetVersion, str]],
    target: str,
) -> None:
    """Datasets into ``target``, each with the dataset versions it was cut from."""
    for dataset, _role in datasets:
        key = graph.add(_dataset(dataset))
        graph.link(key, target)
        for parent in dataset.parents:
            try:
                found = registry.datasets.get(parent)
            except LoopmlError:
                continue
            graph.link(graph.add(_dataset(found, kind="source")), key)


def _add_serving(
    graph: LineageGraph,
    registry: ModelRegistry,
    version: ModelVersion,
    deployments: Sequence[Deployment],
    source: str,
) -> None:
    """The version's exports and the deployments whose routes resolve to it."""
    for export in version.exports:
        node = Node(
            f"export:{version.ref}:{export.format}",
            "serving",
            f"{export.format} export",
            f"of {version.ref}",
            f"/models/{_seg(version.name)}/{version.version}",
        )
        graph.link(source, graph.add(node))
    for deployment in deployments:
        routes = [("champion", deployment.champion)]
        if deployment.canary is not None:
            routes.append((f"canary {deployment.canary.share:g}%", deployment.canary.ref))
        routes += [("shadow", ref) for ref in deployment.shadows]
        for route, ref in routes:
            if not ref.startswith(f"{version.name}@"):
                continue
            try:
                served = registry.get(ref)
            except LoopmlError:
                continue
            if served.version == version.version:
                node = Node(
                    f"deployment:{deployment.name}",
                    "serving",
                    deployment.name,
                    f"deployment: {route}",
                    "/deployments",
                )
                graph.link(source, graph.add(node))


def version_graph(
    registry: ModelRegistry, lineage: Lineage, deployments: Sequence[Deployment]
) -> LineageGraph:
    """The graph of a model version's page: its data, run, the version, where it serves."""
    graph = LineageGraph()
    version = lineage.version
    key = graph.add(_model(version, lineage.aliases, current=True))
    target = key
    if lineage.run is not None:
        target = graph.add(_run(lineage.run))
        graph.link(target, key)
        for other in registry.store.versions_of_run(lineage.run.run_id):
            if other.ref != version.ref:
                graph.link(target, graph.add(_model(other)))
    _add_datasets(graph, registry, lineage.datasets, target)
    _add_serving(graph, registry, version, deployments, key)
    return graph


def run_graph(
    registry: ModelRegistry,
    run: Run,
    inputs: Sequence[tuple[DatasetVersion, str]],
    models: Sequence[ModelVersion],
    deployments: Sequence[Deployment],
) -> LineageGraph:
    """The graph of a run's page: the datasets in, the run, the versions out, where they
    serve."""
    graph = LineageGraph()
    key = graph.add(_run(run, current=True))
    _add_datasets(graph, registry, inputs, key)
    for version in models:
        model_key = graph.add(_model(version))
        graph.link(key, model_key)
        _add_serving(graph, registry, version, deployments, model_key)
    return graph


def graph_svg(graph: LineageGraph) -> Markup:
    """The graph as inline SVG: one column per kind (empty ones left out), a box per node
    linking to its page (the page's own node outlined), an arrow per edge."""
    columns = [[n for n in graph.nodes.values() if n.kind == kind] for kind in KINDS]
    columns = [c for c in columns if c]
    tallest = max((len(c) for c in columns), default=0)
    width = max(0, len(columns) * (_NODE_W + _GAP_X) - _GAP_X) + 2 * _PAD
    height = max(0, tallest * (_NODE_H + _GAP_Y) - _GAP_Y) + 2 * _PAD
    where: dict[str, tuple[float, float]] = {}
    for i, column in enumerate(columns):
        top = _PAD + (height - 2 * _PAD - (len(column) * (_NODE_H + _GAP_Y) - _GAP_Y)) / 2
        for j, node in enumerate(column):
            where[node.key] = (_PAD + i * (_NODE_W + _GAP_X), top + j * (_NODE_H + _GAP_Y))
    parts = [
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z"/></marker></defs>'
    ]
    for source, target in sorted(graph.edges):
        (x1, y1), (x2, y2) = where[source], where[target]
        x1, y1, y2 = x1 + _NODE_W, y1 + _NODE_H / 2, y2 + _NODE_H / 2
        mid = (x1 + x2) / 2
        parts.append(
            f'<path class="edge" data-from="{escape(source)}" data-to="{escape(target)}" '
            f'd="M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2:.0f},{y2:.0f}" '
            'marker-end="url(#arrow)"/>'
        )
    for key, node in graph.nodes.items():
        x, y = where[key]
        label, detail = _clip(node.label), _clip(node.detail)
        css = f"node {node.kind}" + (" current" if node.current else "")
        parts.append(
            f'<a href="{escape(node.href)}" class="{css}" data-node="{escape(key)}">'
            f"<title>{escape(node.label)}: {escape(node.detail)}</title>"
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{_NODE_W}" height="{_NODE_H}" rx="4"/>'
            f'<text x="{x + 8:.0f}" y="{y + 14:.0f}">{escape(label)}</text>'
            f'<text class="detail" x="{x + 8:.0f}" y="{y + 27:.0f}">{escape(detail)}</text></a>'
        )
    return Markup(
        f'<svg class="lineage-graph" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="lineage graph" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )


def _clip(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
