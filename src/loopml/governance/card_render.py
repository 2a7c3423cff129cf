"""Writing a :class:`~loopml.governance.cards.ModelCard` as Markdown or HTML.

The card's sections are laid out once (:func:`card_sections`: titles, paragraphs, lists and
tables of text), and each format writes that layout: Markdown (:func:`render_markdown`) and
HTML (:func:`render_html`: a self-contained page with its style inline, no script and nothing
from a network; or, with ``standalone=False``, the fragment the web UI's page embeds). Every
text is escaped (names come from user data).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from loopml.core.entities import DatasetEvaluation, Evaluation, GateDecision, MetricValue
from loopml.evaluation.gate_lookup import format_interval, format_value
from loopml.governance.cards import DataFacts, ModelCard

__all__ = ["Block", "Section", "card_sections", "render_html", "render_markdown"]


@dataclass(frozen=True)
class Block:
    """A paragraph (``text``), a bulleted list (``items``) or a table (``headers``, ``rows``)."""

    text: str = ""
    items: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    table_id: str = ""
    heading: str = ""


@dataclass(frozen=True)
class Section:
    """One titled section of a card (``key`` names it: the HTML ``id`` is ``card-KEY``)."""

    key: str
    title: str
    blocks: tuple[Block, ...] = field(default_factory=tuple)


def when(ms: int | None) -> str:
    """A millisecond timestamp as ``YYYY-MM-DD HH:MM:SS UTC``."""
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(value: float | None) -> str:
    return "-" if value is None else format_value(value)


def _metric(m: MetricValue) -> str:
    if m.value is None:
        return f"not computable: {m.reason}" if m.reason else "not computable"
    return format_interval(m.value, m.low, m.high)


def _summary(card: ModelCard) -> Section:
    v = card.version
    out = v.signature.output
    classes = f", classes {', '.join(map(str, out.classes))}" if out.classes else ""
    review = f" by {v.reviewer} at {when(v.reviewed_at)}" if v.reviewer else ""
    rows = [
        ("model", v.name),
        ("version", str(v.version)),
        ("aliases", ", ".join(card.aliases) or "none"),
        ("flavor", v.flavor),
        ("task", out.task.value),
        ("output", out.dtype + classes),
        ("inputs", ", ".join(c.name for c in v.signature.inputs)),
        ("registered", f"{when(v.created_at)} by {v.created_by}"),
        ("review", v.approval.value + review),
        ("card composed", when(card.generated_at)),
    ]
    table = Block(headers=("field", "value"), rows=tuple(rows), table_id="card-summary-table")
    return Section("summary", "Summary", (table,))


def _intended_use(card: ModelCard) -> Section:
    text = card.version.description.strip()
    if not text:
        text = (
            "No intended use recorded: the version has no description "
            "(register it with description=...)."
        )
    return Section("intended-use", "Intended use", (Block(text=text),))


def _data_blocks(data: DataFacts) -> tuple[Block, ...]:
    about = f"{data.ref} ({data.role}): {data.rows} rows"
    if data.target:
        about += f", target {data.target}"
    about += f", content hash {data.content_hash[:12]}"
    if data.parents:
        about += f", derived from {', '.join(data.parents)}"
    if data.description:
        about += f". {data.description}"
    rows = tuple(
        (
            c.name,
            c.dtype,
            c.role,
            str(c.nulls),
            str(c.distinct),
            _num(c.minimum),
            _num(c.mean),
            _num(c.maximum),
            c.top or ("" if c.categories is None else f"{c.categories} categories"),
        )
        for c in data.columns
    )
    headers = ("column", "type", "role", "nulls", "distinct", "min", "mean", "max", "most frequent")
    return (
        Block(text=about, heading=f"{data.ref} ({data.role})"),
        Block(headers=headers, rows=rows, table_id=f"data-{data.ref}"),
    )


def _training_data(card: ModelCard) -> Section:
    if not card.data:
        text = "No training data recorded: the version names no dataset and its run logged none."
        return Section("data", "Training data", (Block(text=text),))
    return Section("data", "Training data", tuple(b for d in card.data for b in _data_blocks(d)))


def _dataset_blocks(ev: Evaluation, ds: DatasetEvaluation) -> list[Block]:
    deltas = {d.name: d for d in ds.deltas}
    rows = []
    for m in ds.metrics:
        d = deltas.get(m.name)
        versus = "" if d is None or d.diff is None else format_interval(d.diff, d.low, d.high)
        rows.append((m.name, _metric(m), versus))
    blocks = [
        Block(text=f"{ds.dataset}: {ds.rows} rows scored.", heading=ds.dataset),
        Block(
            headers=("metric", "value [interval]", f"minus baseline {ev.baseline or '-'}"),
            rows=tuple(rows),
            table_id=f"metrics-{ev.evaluation_id[:8]}-{ds.dataset}",
        ),
    ]
    slice_rows = []
    for kind, pieces in (("declared", ds.slices), ("searched", ds.worst_slices)):
        for piece in pieces:
            if not piece.metrics:
                slice_rows.append((piece.name, kind, str(piece.support), "", piece.reason, ""))
            for m in piece.metrics:
                gap = piece.gap(m.name)
                versus = (
                    ""
                    if gap is None or gap.diff is None
                    else format_interval(gap.diff, gap.low, gap.high)
                )
                row = (piece.name, kind, str(piece.support), m.name, _metric(m), versus)
                slice_rows.append(row)
    if slice_rows:
        headers = ("slice", "kind", "rows", "metric", "value [interval]", "minus all rows")
        blocks.append(
            Block(
                headers=headers,
                rows=tuple(slice_rows),
                table_id=f"slices-{ev.evaluation_id[:8]}-{ds.dataset}",
            )
        )
    else:
        blocks.append(Block(text="No slices evaluated."))
    if ds.searched:
        searched = f"The worst-slice search examined {ds.searched} candidate slices."
        blocks.append(Block(text=searched))
    return blocks


def _evaluation(card: ModelCard) -> Section:
    if not card.evaluations:
        text = f"Not evaluated: `loopml evaluate {card.ref} --dataset ...`."
        return Section("evaluation", "Evaluation and slices", (Block(text=text),))
    blocks: list[Block] = []
    for ev in card.evaluations:
        config = ev.config
        about = (
            f"Evaluation {ev.evaluation_id} ({ev.task}, target {ev.target}) at "
            f"{when(ev.created_at)} by {ev.created_by}; baseline {ev.baseline or 'none'}"
        )
        if "confidence" in config and "resamples" in config:
            about += (
                f"; {format_value(float(config['confidence']) * 100)}% intervals from "
                f"{config['resamples']} bootstrap resamples"
            )
        blocks.append(Block(text=about + ".", heading=f"Evaluation {ev.evaluation_id[:8]}"))
        for ds in ev.datasets:
            blocks.extend(_dataset_blocks(ev, ds))
    hidden = card.evaluations_total - len(card.evaluations)
    if hidden > 0:
        blocks.append(Block(text=f"{hidden} older evaluations are not shown."))
    return Section("evaluation", "Evaluation and slices", tuple(blocks))


def _stat(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return str(int(value)) if float(value).is_integer() and abs(value) >= 1 else _num(value)


def _fairness(card: ModelCard) -> Section:
    rows, groups = [], []
    for ev in card.evaluations:
        for ds in ev.datasets:
            seen: set[str] = set()
            for f in ds.fairness:
                value = _num(f.value) if f.value is not None else f"not computable: {f.reason}"
                rows.append((ev.evaluation_id[:8], ds.dataset, f.column, f.metric, value))
                if f.column in seen:
                    continue
                seen.add(f.column)
                for group, stats in sorted(f.groups.items()):
                    figures = ", ".join(f"{k} {_stat(v)}" for k, v in sorted(stats.items()))
                    groups.append((ev.evaluation_id[:8], ds.dataset, f.column, group, figures))
    if not rows:
        text = "Not evaluated for fairness: no evaluation declared a sensitive column."
        return Section("fairness", "Fairness", (Block(text=text),))
    measures = Block(
        headers=("evaluation", "dataset", "column", "measure", "value"),
        rows=tuple(rows),
        table_id="card-fairness",
    )
    by_group = Block(
        headers=("evaluation", "dataset", "column", "group", "figures"),
        rows=tuple(groups),
        table_id="card-fairness-groups",
    )
    return Section("fairness", "Fairness", (measures, by_group))


def _gate_blocks(gate: GateDecision) -> tuple[Block, ...]:
    verdict = "passed" if gate.passed else "failed"
    about = (
        f"{gate.policy}: {verdict} at {when(gate.at)} by {gate.actor} "
        f"(evaluation {gate.evaluation_id})."
    )
    rows = tuple(
        (
            c.rule,
            "pass" if c.passed else ("fail" if c.passed is False else "not computable"),
            c.observed,
            c.threshold,
            c.reason,
        )
        for c in gate.checks
    )
    headers = ("rule", "result", "observed", "threshold", "reason")
    return Block(text=about), Block(headers=headers, rows=rows, table_id="gate-checks")


def _gates(card: ModelCard) -> Section:
    if not card.gates:
        text = f"Not gated: `loopml gate {card.ref} POLICY.yaml`."
        return Section("gates", "Gate results", (Block(text=text),))
    return Section("gates", "Gate results", tuple(b for g in card.gates for b in _gate_blocks(g)))


def _limitations(card: ModelCard) -> Section:
    items = tuple(f"{item.kind}: {item.text}" for item in card.limitations)
    if not items:
        return Section("limitations", "Limitations", (Block(text="None found in the store."),))
    return Section("limitations", "Limitations", (Block(items=items),))


def _lineage(card: ModelCard) -> Section:
    rows: list[tuple[str, ...]] = []
    if card.run is not None:
        r = card.run
        rows.append(("run", r.run_id, f"{r.name} ({r.status}), experiment {r.experiment_id}"))
    for d in card.data:
        rows.append(("dataset", d.ref, d.role))
    if card.commit:
        rows.append(("code", card.commit, "git commit"))
    for export in card.version.exports:
        check = export.check
        rows.append(
            (
                f"export {export.format}",
                export.manifest_digest[:12],
                f"checked on {check.get('rows')} rows of {check.get('holdout')} at "
                f"{when(export.created_at)}",
            )
        )
    rows.append(("package", card.version.manifest_digest[:12], "manifest"))
    block = Block(headers=("what", "which", "detail"), rows=tuple(rows), table_id="card-lineage")
    return Section("lineage", "Lineage", (block,))


def _approvals(card: ModelCard) -> Section:
    blocks: list[Block] = []
    if card.reviews:
        reviews = tuple((r.status, r.actor, when(r.at), r.comment) for r in card.reviews)
        blocks.append(
            Block(
                headers=("review", "who", "when", "comment"), rows=reviews, table_id="card-reviews"
            )
        )
    else:
        blocks.append(Block(text=f"Never reviewed: {card.version.approval.value}."))
    if card.alias_moves:
        moves = tuple(
            (
                m.alias,
                "-" if m.from_version is None else str(m.from_version),
                "-" if m.to_version is None else str(m.to_version),
                m.actor,
                when(m.at),
                m.reason + (" (rollback)" if m.rollback else ""),
            )
            for m in card.alias_moves
        )
        headers = ("alias", "from", "to", "who", "when", "reason")
        blocks.append(Block(headers=headers, rows=moves, table_id="card-aliases"))
    else:
        blocks.append(Block(text="No alias ever pointed at this version."))
    return Section("approvals", "Approvals and alias history", tuple(blocks))


def _explanations(card: ModelCard) -> Section:
    if not card.explanations:
        return Section("explanations", "Explanations", (Block(text="No explanations recorded."),))
    blocks: list[Block] = []
    for item in card.explanations:
        on = f" on {item.dataset}" if item.dataset else ""
        about = (
            f"Global importance by {item.method}{on} ({item.rows} rows), "
            f"{when(item.created_at)} by {item.created_by}."
        )
        ranked = sorted(item.features, key=lambda f: (-f.importance, f.feature))
        rows = tuple((f.feature, _num(f.importance), _num(f.spread)) for f in ranked)
        headers = ("feature", "importance", "spread")
        blocks.append(Block(text=about))
        blocks.append(Block(headers=headers, rows=rows, table_id=f"card-importance-{item.method}"))
    return Section("explanations", "Explanations", tuple(blocks))


def card_sections(card: ModelCard) -> tuple[Section, ...]:
    """The card's sections, in reading order."""
    return (
        _summary(card),
        _intended_use(card),
        _training_data(card),
        _evaluation(card),
        _fairness(card),
        _gates(card),
        _limitations(card),
        _lineage(card),
        _approvals(card),
        _explanations(card),
    )


# -- Markdown ---------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|") or " "


def _md_block(block: Block) -> str:
    lines = [f"### {block.heading}", ""] if block.heading else []
    if block.text:
        lines.append(" ".join(block.text.split()))
    if block.items:
        lines.extend(f"- {' '.join(item.split())}" for item in block.items)
    if block.headers:
        lines.append("| " + " | ".join(_md_cell(h) for h in block.headers) + " |")
        lines.append("|" + "---|" * len(block.headers))
        lines.extend("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows)
    return "\n".join(lines)


def render_markdown(card: ModelCard) -> str:
    """The card as Markdown (GitHub-flavoured tables)."""
    parts = [f"# Model card: {card.ref}"]
    for section in card_sections(card):
        parts.append(f"## {section.title}")
        parts.extend(_md_block(b) for b in section.blocks)
    return "\n\n".join(parts) + "\n"


# -- HTML -------------------------------------------------------------------------------------

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #1d2330; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #d6dae2; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid #d6dae2; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f3f5f8; } .card-limitations li { margin: .2em 0; }
"""


def _html_block(block: Block) -> str:
    out = []
    if block.heading:
        out.append(f"<h3>{escape(block.heading)}</h3>")
    if block.text:
        out.append(f"<p>{escape(block.text)}</p>")
    if block.items:
        out.append("<ul>" + "".join(f"<li>{escape(i)}</li>" for i in block.items) + "</ul>")
    if block.headers:
        ident = f' id="{escape(block.table_id)}"' if block.table_id else ""
        head = "".join(f"<th>{escape(h)}</th>" for h in block.headers)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in block.rows
        )
        out.append(f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    return "\n".join(out)


def _html_sections(sections: Sequence[Section]) -> str:
    return "\n".join(
        f'<section id="card-{s.key}" class="card-{s.key}"><h2>{escape(s.title)}</h2>\n'
        + "\n".join(_html_block(b) for b in s.blocks)
        + "\n</section>"
        for s in sections
    )


def render_html(card: ModelCard, *, standalone: bool = True) -> str:
    """The card as HTML: a whole page with its style inline (``standalone``), or the
    ``<article>`` the web UI embeds in its own page."""
    article = f'<article class="model-card">\n{_html_sections(card_sections(card))}\n</article>'
    if not standalone:
        return article
    title = escape(f"Model card: {card.ref}")
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{title}</h1>\n{article}\n</body>\n</html>\n"
    )
