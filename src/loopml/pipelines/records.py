"""The runs a pipeline writes: one for the pipeline, one child run per step. Only the driver
writes them (workers touch the artifact store alone).

A step's child run holds its parameters (as params), its cache key, whether it hit, its code
hash, its inputs' and outputs' content hashes (as tags), its seconds (a metric), its output
values in its artifact index (``outputs/<digest>.parquet``: the same stored bytes, not a
copy), and, when it failed, the error.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

from loopml.core.entities import ArtifactEntry, MetricPoint, RunStatus
from loopml.core.ids import RunId
from loopml.pipelines import cache as tags
from loopml.pipelines.graph import canonical_json
from loopml.pipelines.values import StoredValue
from loopml.tracking import TrackingService

#: Longest param text kept whole (the store keeps 6,000 characters).
_PARAM_CHARS = 5000


def param_texts(params: Mapping[str, Any]) -> dict[str, str]:
    """Parameters as run params: text as itself, other values as canonical JSON (a long
    value cut, with the hash of the whole)."""
    out = {}
    for key, value in params.items():
        text = value if isinstance(value, str) else canonical_json(value)
        if len(text) > _PARAM_CHARS:
            digest = hashlib.sha256(text.encode()).hexdigest()
            text = f"{text[:_PARAM_CHARS]}... (sha256 {digest})"
        out[key] = text
    return out


def _bounded(text: str) -> str:
    """A tag value the store keeps: whole when short, else the hash of the whole."""
    if len(text) <= _PARAM_CHARS:
        return text
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()} ({len(text)} characters)"


class StepRecords:
    """Writes the child runs of one pipeline run.

    Args:
        tracking: The tracking service (of the driver's backend).
        parent: The pipeline run.
    """

    def __init__(self, tracking: TrackingService, parent: RunId) -> None:
        self.tracking = tracking
        self.parent = parent

    def start(
        self,
        step: str,
        *,
        params: Mapping[str, Any],
        key: str,
        code: str,
        inputs: Mapping[str, Any],
        hit: bool,
    ) -> RunId:
        """Create the step's child run (RUNNING) with its params and key."""
        run = self.tracking.create_run(
            name=step,
            parent_run_id=self.parent,
            capture=False,
            tags={
                tags.TAG_STEP: step,
                tags.TAG_STEP_KEY: key,
                tags.TAG_STEP_HIT: str(hit).lower(),
                tags.TAG_STEP_CODE: code,
                tags.TAG_STEP_INPUTS: _bounded(
                    json.dumps(inputs, sort_keys=True, separators=(",", ":"))
                ),
            },
        )
        if params:
            self.tracking.log_params(run.run_id, param_texts(params))
        return run.run_id

    def finish(
        self,
        run_id: RunId,
        outputs: tuple[StoredValue, ...],
        *,
        seconds: float,
        extra_tags: Mapping[str, str] | None = None,
    ) -> None:
        """Record the outputs and end the child run FINISHED."""
        self.tracking.store.add_artifacts(
            run_id,
            [ArtifactEntry(f"outputs/{o.filename}", o.digest, o.size) for o in outputs],
        )
        self.tracking.log_batch(
            run_id,
            metrics=[MetricPoint("seconds", seconds, 0, int(time.time() * 1000))],
            tags={tags.TAG_STEP_OUTPUTS: tags.encode_outputs(outputs), **(extra_tags or {})},
        )
        self.tracking.end_run(run_id, status=RunStatus.FINISHED)

    def fail(self, run_id: RunId, error: BaseException, *, attempts: int) -> None:
        """End the child run FAILED with the error."""
        self.tracking.set_tags(run_id, {tags.TAG_STEP_ATTEMPTS: str(attempts)})
        self.tracking.end_run(run_id, status=RunStatus.FAILED, error=error)
