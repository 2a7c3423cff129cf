"""Exporting a registered scikit-learn version to ONNX and recording the checked copy.

The copy is accepted only after :func:`~loopml.registry.onnx_export.export_onnx` finds it
predicts like the original on held-out rows (the version's validation dataset, or rows the
caller passes); it is then stored as its own package and recorded on the version with the
check's numbers, together with a ``model.exported`` event.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.core.entities import DatasetVersion, Event, ModelExport, ModelVersion
from loopml.core.errors import InvalidArgumentError
from loopml.core.ids import new_event_id
from loopml.registry.enforce import InputEnforcer
from loopml.registry.flavors import get_flavor
from loopml.registry.package import store_package

if TYPE_CHECKING:
    from loopml.registry.service import ModelRegistry
    from loopml.store.protocols import ArtifactStore

#: Held-out rows checked by default.
DEFAULT_ROWS = 2000
#: Flavors whose loaded predictor holds a scikit-learn model to convert.
EXPORTABLE_FLAVORS = ("sklearn", "skops")


def export_version(
    registry: ModelRegistry,
    version: ModelVersion,
    *,
    holdout: Any = None,
    tolerance: float = 1e-5,
    rows: int = DEFAULT_ROWS,
) -> ModelVersion:
    """Export ``version`` to ONNX, check it, store it and record it; see
    :meth:`ModelRegistry.export_onnx`."""
    digest, check = package_export(
        registry,
        version,
        holdout=holdout,
        tolerance=tolerance,
        rows=rows,
        artifacts=registry.backend.artifacts,
    )
    return record_export(registry, version, digest, check)


def package_export(
    registry: Any,
    version: ModelVersion,
    *,
    holdout: Any,
    tolerance: float,
    rows: int,
    artifacts: ArtifactStore,
) -> tuple[str, dict[str, Any]]:
    """Convert ``version`` to ONNX, check that the copy predicts like the original on held-out
    rows, and store the copy's package in ``artifacts``.

    Args:
        registry: Where the version is loaded and the held-out dataset read (``load``,
            ``datasets``): the registry, or its remote twin.

    Returns:
        The package's manifest digest, and the check (JSON-ready, with ``holdout``: where the
        rows came from).
    """
    import onnx

    from loopml.registry.onnx_export import export_onnx

    if version.flavor not in EXPORTABLE_FLAVORS:
        raise InvalidArgumentError(
            f"Model {version.ref} is a {version.flavor!r} model; ONNX export converts models "
            f"of the {' and '.join(repr(f) for f in EXPORTABLE_FLAVORS)} flavors (scikit-learn "
            "estimators and pipelines, including pipelines that end in an XGBoost or LightGBM "
            "model). Serve it with its native flavor."
        )
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise InvalidArgumentError(
            f"The 'rows' parameter of export_onnx must be an int >= 1. Got {rows!r} instead."
        )
    frame, source = _holdout(registry, version, holdout, rows)
    original = registry.load(version).raw
    model = getattr(original, "model", None)
    if model is None:  # pragma: no cover - the sklearn flavor always keeps its estimator
        raise InvalidArgumentError(f"Model {version.ref} cannot be exported: no estimator.")
    data, report = export_onnx(
        model, original, version.signature.inputs, frame, tolerance=tolerance
    )
    flavor = get_flavor("onnx")
    with tempfile.TemporaryDirectory(prefix="loopml-onnx-") as tmp:
        folder = Path(tmp)
        details = flavor.save(onnx.load_model_from_string(data), folder)
        _manifest, digest = store_package(
            folder,
            flavor=flavor,
            details=details,
            signature=version.signature,
            artifacts=artifacts,
        )
    return digest, {**report.to_dict(), "holdout": source}


def record_export(
    registry: ModelRegistry, version: ModelVersion, digest: str, check: Mapping[str, Any]
) -> ModelVersion:
    """Record the stored ONNX package ``digest`` as ``version``'s export, with its
    ``model.exported`` event (the registry's actor: on a server, the token's user)."""
    at, actor = registry.now(), registry.actor
    source = str(check.get("holdout", ""))
    export = ModelExport("onnx", digest, at, actor, dict(check))
    figures = {k: v for k, v in check.items() if k != "holdout"}
    event = Event(
        event_id=new_event_id(),
        kind="model.exported",
        subject=f"model:{version.ref}",
        actor=actor,
        at=at,
        reason=f"ONNX copy predicts like the original on {check.get('rows')} held-out rows",
        links={"holdout": source} if "@" in source else {},
        data={"format": "onnx", "manifest_digest": digest, **figures},
    )
    return registry.store.add_export(version.name, version.version, export, event=event)


def _holdout(registry: Any, version: ModelVersion, holdout: Any, rows: int) -> tuple[Any, str]:
    """Return the held-out rows as the model's input frame, and where they came from."""
    if holdout is None:
        if version.validation_data is None:
            raise InvalidArgumentError(
                f"Exporting {version.ref} needs held-out rows to check the copy on: it has no "
                "validation dataset, so pass holdout= (a dataset ref like 'credit-test@1' or "
                "a DataFrame; CLI: --holdout)."
            )
        holdout = version.validation_data
    if isinstance(holdout, str | DatasetVersion):
        dataset = registry.datasets.get(holdout) if isinstance(holdout, str) else holdout
        table = registry.datasets.read_table(dataset).slice(0, rows)
        data: Any = table.to_pandas()
        source = dataset.ref
    else:
        data = holdout
        source = "rows passed by the caller"
    frame = InputEnforcer(version.signature.inputs).enforce(data)
    return frame.iloc[:rows], source
