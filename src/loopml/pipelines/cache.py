"""Step caching: the key of a step call, and the finished step run that holds its outputs.

The key is the SHA-256 of the canonical JSON of:

- the step's code: its source, parsed and dumped without decorators, docstrings, comments or
  formatting (so reformatting does not miss, and any change of what runs does); for a
  function without source (typed into a REPL), its compiled code;
- its parameters (canonical JSON: sorted keys, no spaces);
- its inputs' content hashes (each input value's digest);
- how many outputs it has.

There is no cache table: a step's child run carries its key in the tag
``loopml.step.cache_key`` and its outputs in ``loopml.step.outputs``, and a lookup is a run
search on the tag, FINISHED runs only, newest first. A hit whose stored values are gone from
the artifact store is not a hit.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import textwrap
import types
from collections.abc import Callable, Mapping
from typing import Any

from loopml.core.entities import Run, RunStatus
from loopml.pipelines.graph import canonical_json
from loopml.pipelines.values import StoredValue
from loopml.store.protocols import ArtifactStore, TrackingStore
from loopml.store.query import BoolOp, Comparison, FieldRef, RunQuery

#: Changes when what the key covers changes (old keys then miss rather than mislead).
KEY_VERSION = 1

# Tags written on pipeline and step runs (their one definition).
TAG_PIPELINE = "loopml.pipeline"
TAG_PIPELINE_SOURCE = "loopml.pipeline.source"
TAG_PIPELINE_EXECUTOR = "loopml.pipeline.executor"
TAG_PIPELINE_PARAMS_KEY = "loopml.pipeline.params_key"
TAG_PIPELINE_HITS = "loopml.pipeline.cache_hits"
TAG_PIPELINE_RESUMED_FROM = "loopml.pipeline.resumed_from"
TAG_STEP = "loopml.step"
TAG_STEP_KEY = "loopml.step.cache_key"
TAG_STEP_HIT = "loopml.step.cache_hit"
TAG_STEP_CODE = "loopml.step.code_hash"
TAG_STEP_INPUTS = "loopml.step.inputs"
TAG_STEP_OUTPUTS = "loopml.step.outputs"
TAG_STEP_CACHED_FROM = "loopml.step.cached_from"
TAG_STEP_ATTEMPTS = "loopml.step.attempts"
TAG_STEP_WORKER = "loopml.step.worker"
TAG_STEP_STARTED = "loopml.step.started_at"
TAG_STEP_ENDED = "loopml.step.ended_at"


def code_hash(fn: Callable[..., Any]) -> str:
    """The hash of a function's code, normalized (see the module docstring)."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return _hash(_code_text(fn.__code__))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            node.decorator_list = []
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return _hash(ast.dump(tree, annotate_fields=False, include_attributes=False))


def _code_text(code: types.CodeType) -> str:
    consts = [_code_text(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
    return repr((code.co_code.hex(), consts, code.co_names, code.co_varnames))


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def input_hashes(
    inputs: Mapping[str, StoredValue | tuple[StoredValue, ...]],
) -> dict[str, str | list[str]]:
    """Each input's content hash (a list for a list of inputs), by argument name."""
    return {
        name: [r.digest for r in ref] if isinstance(ref, tuple) else ref.digest
        for name, ref in sorted(inputs.items())
    }


def cache_key(
    code: str,
    params: Mapping[str, Any],
    inputs: Mapping[str, StoredValue | tuple[StoredValue, ...]],
    outputs: int,
) -> str:
    """The cache key of a step call (see the module docstring)."""
    document = {
        "v": KEY_VERSION,
        "code": code,
        "params": params,
        "inputs": input_hashes(inputs),
        "outputs": outputs,
    }
    return _hash(canonical_json(document))


def encode_outputs(outputs: tuple[StoredValue, ...]) -> str:
    """The outputs tag of a step run."""
    return json.dumps([o.to_dict() for o in outputs], separators=(",", ":"))


def decode_outputs(text: str) -> tuple[StoredValue, ...]:
    """The stored values an outputs tag names."""
    return tuple(StoredValue.from_dict(o) for o in json.loads(text))


def find_cached(
    tracking: TrackingStore, artifacts: ArtifactStore, key: str
) -> tuple[Run, tuple[StoredValue, ...]] | None:
    """The newest FINISHED step run with this key whose outputs are all still stored."""
    experiments = tuple(e.experiment_id for e in tracking.list_experiments())
    if not experiments:
        return None
    where = BoolOp(
        "and",
        (
            Comparison(FieldRef("tag", TAG_STEP_KEY), "=", key),
            Comparison(FieldRef("attribute", "status"), "=", RunStatus.FINISHED.value),
        ),
    )
    for run in tracking.search_runs(RunQuery(experiment_ids=experiments, where=where, limit=5)):
        text = run.tags.get(TAG_STEP_OUTPUTS)
        if text is None:
            continue
        outputs = decode_outputs(text)
        if all(artifacts.exists(o.digest) for o in outputs):
            return run, outputs
    return None
