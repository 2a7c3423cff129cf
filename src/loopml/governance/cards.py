"""Model cards: everything the store knows about one model version, gathered in one structure.

:func:`compose_card` reads a version's record, lineage (run, datasets with their schema and
profile, commit, exports), evaluations (metrics, slices and fairness with their intervals),
gate decisions, reviews, alias moves and explanations, and derives its limitations
(:mod:`loopml.governance.card_limits`). Nothing in a card is typed by hand: a section the store
has nothing for says so. :mod:`loopml.governance.card_render` writes a card as Markdown or HTML.

The composer calls only methods the SDK's remote proxies share with the services
(``get``, ``lineage``, ``alias_history``, ``explanations`` of the registry; ``list`` and
``get`` of the evaluations; the audit events by subject), so a card is composed the same way
in embedded mode and through ``loopml server``.

Example:
    >>> import loopml
    >>> card = loopml.models.card("credit-default@champion")  # doctest: +SKIP
    >>> print(card.to_markdown())  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from loopml.core.clock import Clock, now_ms
from loopml.core.entities import (
    AliasMove,
    DatasetVersion,
    Evaluation,
    Event,
    GateDecision,
    ModelExplanation,
    ModelVersion,
)
from loopml.core.errors import InvalidArgumentError
from loopml.core.jsonable import Jsonable

if TYPE_CHECKING:
    from loopml.evaluation import EvaluationService
    from loopml.registry import ModelRegistry

__all__ = [
    "CARD_FORMATS",
    "ColumnFacts",
    "DataFacts",
    "Limitation",
    "ModelCard",
    "Review",
    "RunFacts",
    "check_card_format",
    "compose_card",
]

#: The formats a card is written in.
CARD_FORMATS = ("md", "html")
CardFormat = Literal["md", "html"]
#: Reads the audit events of one subject (``model:name@3``), oldest first.
EventReader = Callable[[str], Sequence[Event]]
#: At most this many evaluations are read into a card (the newest); the card says how many
#: more there are.
MAX_EVALUATIONS = 5
_REVIEW_KINDS = ("model.approved", "model.rejected")
_GATE_KINDS = ("gate.passed", "gate.failed")


@dataclass(frozen=True)
class ColumnFacts(Jsonable):
    """A few profile figures of one column of a dataset version.

    Attributes:
        name: The column.
        dtype: Its type in the dataset's schema.
        role: ``feature``, ``target``, ``timestamp``, ...
        nulls: Missing values.
        distinct: Distinct values.
        minimum: Smallest value (numeric columns).
        mean: Mean (numeric columns).
        maximum: Largest value (numeric columns).
        top: The most frequent category and its count (``'A' (120)``; categorical columns).
        categories: How many categories the schema knows (categorical columns).
    """

    name: str
    dtype: str
    role: str
    nulls: int
    distinct: int
    minimum: float | None = None
    mean: float | None = None
    maximum: float | None = None
    top: str | None = None
    categories: int | None = None


@dataclass(frozen=True)
class DataFacts(Jsonable):
    """A dataset version of the model's lineage, with its schema and profile figures.

    Attributes:
        ref: ``name@version``.
        role: ``train``, ``validation`` or the role its run logged.
        rows: Rows.
        content_hash: The hash of its content.
        parents: The versions it was derived from (a split's source).
        target: The label column, if any.
        description: The dataset's description.
        columns: Per column, from the stored profile.
    """

    ref: str
    role: str
    rows: int
    content_hash: str
    parents: tuple[str, ...]
    target: str | None
    description: str
    columns: tuple[ColumnFacts, ...]


@dataclass(frozen=True)
class RunFacts(Jsonable):
    """The run that produced the version."""

    run_id: str
    name: str
    status: str
    experiment_id: str


@dataclass(frozen=True)
class Review(Jsonable):
    """One approval or rejection: who, when, with which comment."""

    status: str
    actor: str
    at: int
    comment: str


@dataclass(frozen=True)
class Limitation(Jsonable):
    """One limitation, derived from the store.

    Attributes:
        kind: ``review``, ``gate``, ``evaluation``, ``slice``, ``baseline``, ``fairness``,
            ``data`` or ``note``.
        text: What it is, with the figures that show it.
    """

    kind: str
    text: str


@dataclass(frozen=True)
class ModelCard(Jsonable):
    """A model card: one version, and what the store knows about it.

    Attributes:
        version: The version's record (description = intended use; review; exports).
        aliases: The aliases pointing at it now.
        run: The run that produced it (None: registered outside a run, or purged).
        commit: The git commit of its code, if known.
        data: The dataset versions of its lineage (training first), with profile figures.
        evaluations: Its evaluations, newest first (at most :data:`MAX_EVALUATIONS`; curves
            left out).
        evaluations_total: How many evaluations the store holds for it.
        gates: Gate decisions on it, newest first.
        reviews: Approvals and rejections, oldest first.
        alias_moves: Alias moves to or from it, oldest first.
        explanations: Its recorded explanations (global feature importance), newest first.
        limitations: Derived from all of the above.
        generated_at: When the card was composed (ms since the epoch).
    """

    version: ModelVersion
    aliases: tuple[str, ...]
    run: RunFacts | None
    commit: str | None
    data: tuple[DataFacts, ...]
    evaluations: tuple[Evaluation, ...]
    evaluations_total: int
    gates: tuple[GateDecision, ...]
    reviews: tuple[Review, ...]
    alias_moves: tuple[AliasMove, ...]
    explanations: tuple[ModelExplanation, ...]
    limitations: tuple[Limitation, ...]
    generated_at: int

    @property
    def ref(self) -> str:
        """``name@version``."""
        return self.version.ref

    def to_markdown(self) -> str:
        """The card as Markdown."""
        from loopml.governance.card_render import render_markdown

        return render_markdown(self)

    def to_html(self) -> str:
        """The card as one self-contained HTML page (no script, nothing from a network)."""
        from loopml.governance.card_render import render_html

        return render_html(self)

    def render(self, format: str = "md") -> str:
        """The card as ``md`` (Markdown) or ``html``."""
        return self.to_html() if check_card_format(format) == "html" else self.to_markdown()


def check_card_format(format: Any) -> CardFormat:
    """Return ``format`` if it is one of :data:`CARD_FORMATS`.

    Raises:
        InvalidArgumentError: Any other value.
    """
    if format == "md":
        return "md"
    if format == "html":
        return "html"
    raise InvalidArgumentError(
        f"A model card's format must be 'md' or 'html'. Got {format!r} instead "
        "(CLI: --format md|html)."
    )


def column_facts(dataset: DatasetVersion) -> tuple[ColumnFacts, ...]:
    """Profile figures of every column of ``dataset``, in schema order."""
    profiles = {c.name: c for c in dataset.profile.columns}
    out = []
    for column in dataset.schema.columns:
        profile = profiles.get(column.name)
        numeric = profile.numeric if profile is not None else None
        top = None
        if profile is not None and profile.frequencies:
            name, count = max(profile.frequencies.items(), key=lambda item: (item[1], item[0]))
            top = f"{name!r} ({count})"
        out.append(
            ColumnFacts(
                name=column.name,
                dtype=column.dtype,
                role=column.role.value,
                nulls=profile.nulls if profile is not None else 0,
                distinct=profile.distinct if profile is not None else 0,
                minimum=numeric.min if numeric is not None else None,
                mean=numeric.mean if numeric is not None else None,
                maximum=numeric.max if numeric is not None else None,
                top=top,
                categories=None if column.categories is None else len(column.categories),
            )
        )
    return tuple(out)


def _data_facts(dataset: DatasetVersion, role: str) -> DataFacts:
    return DataFacts(
        ref=dataset.ref,
        role=role,
        rows=dataset.rows,
        content_hash=dataset.content_hash,
        parents=tuple(dataset.parents),
        target=dataset.schema.target,
        description=dataset.description,
        columns=column_facts(dataset),
    )


def _without_curves(evaluation: Evaluation) -> Evaluation:
    """The evaluation without its plot data (a card shows figures, not curves)."""
    datasets = tuple(dataclasses.replace(d, curves={}) for d in evaluation.datasets)
    return dataclasses.replace(evaluation, datasets=datasets)


def compose_card(
    ref: str,
    *,
    models: ModelRegistry,
    evaluations: EvaluationService,
    events: EventReader,
    clock: Clock = now_ms,
) -> ModelCard:
    """Compose the model card of the version ``ref`` names (an alias works).

    Args:
        ref: ``name@3``, ``name@champion``, ``name@latest`` or ``name``.
        models: The registry (or the SDK's remote proxy of it).
        evaluations: The evaluation service (or its remote proxy).
        events: Reads the audit events of one subject, oldest first.
        clock: When the card is composed (injectable for tests).

    Returns:
        The card; :meth:`ModelCard.to_markdown` and :meth:`ModelCard.to_html` write it.

    Raises:
        NotFoundError: No such model or version.
    """
    from loopml.governance.card_limits import derive_limitations

    version = models.get(ref)
    lineage = models.lineage(version.ref)
    data = tuple(
        _data_facts(d, role)
        for d, role in sorted(lineage.datasets, key=lambda item: (item[1] != "train", item[1]))
    )
    records = evaluations.list(version.ref)  # newest first
    evaluated = tuple(
        _without_curves(evaluations.get(r.evaluation_id)) for r in records[:MAX_EVALUATIONS]
    )
    own = list(events(f"model:{version.ref}"))
    gates = tuple(
        GateDecision.from_dict(e.data) for e in reversed(own) if e.kind in _GATE_KINDS and e.data
    )
    reviews = tuple(
        Review(status=e.kind.split(".")[1], actor=e.actor, at=e.at, comment=e.reason)
        for e in own
        if e.kind in _REVIEW_KINDS
    )
    moves = tuple(
        m
        for m in models.alias_history(version.name)
        if version.version in (m.from_version, m.to_version)
    )
    run = lineage.run
    card = ModelCard(
        version=version,
        aliases=tuple(lineage.aliases),
        run=None
        if run is None
        else RunFacts(
            run_id=run.run_id,
            name=run.name,
            status=run.status.value,
            experiment_id=run.experiment_id,
        ),
        commit=lineage.commit,
        data=data,
        evaluations=evaluated,
        evaluations_total=len(records),
        gates=gates,
        reviews=reviews,
        alias_moves=moves,
        explanations=tuple(models.explanations(version.ref)),
        limitations=(),
        generated_at=clock(),
    )
    return dataclasses.replace(card, limitations=derive_limitations(card))
