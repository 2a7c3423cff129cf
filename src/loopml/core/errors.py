"""The loopml error tree. Every error a user can see is a :class:`LoopmlError`.

::

    LoopmlError
    ├── InvalidArgumentError (ValueError)       bad input: a value, a key, a name
    │   ├── FilterSyntaxError                   a search filter that does not parse
    │   ├── RowsRejectedError                   rows a model's library refused (HTTP 422)
    │   ├── GuardrailRejectedError              a request that broke a reject guardrail
    │   ├── MalformedRequestError               an HTTP body that is empty or not JSON (400)
    │   ├── PayloadTooLargeError                an HTTP body over the limit (413)
    │   └── UnsupportedMediaTypeError           an HTTP body of another content type (415)
    ├── NotFoundError (LookupError)             no such experiment, run, artifact
    ├── AlreadyExistsError                      a name that is taken
    ├── ConflictError                           a write that contradicts what is stored
    │   │                                       (a param logged twice with two values,
    │   │                                       a finished run written to)
    │   └── ApprovalRequiredError               an alias move that needs an approved version
    ├── NotFittedError (ValueError, AttributeError)
    ├── PermissionDeniedError (PermissionError) a store that cannot be written
    │   └── AccessDeniedError                   a token whose role is too low for the
    │                                           action (HTTP 403)
    ├── UnauthenticatedError                    no token, or an unknown, revoked or
    │                                           expired one (HTTP 401)
    ├── ArtifactIntegrityError                  an object whose bytes do not match its hash
    ├── UntrustedTypesError                     a model package naming types the loader
    │                                           does not trust (skops), refused unbuilt
    ├── StoreError                              a store that cannot be opened or reached
    │   └── SchemaVersionError                  a metadata store of an unknown (newer) schema
    ├── DriftTestError                          a drift test failed on inputs it had accepted
    ├── MetricUndefined (ValueError)            a metric with no value on these data
    ├── ModelUnavailableError                   a model failed with no fallback (HTTP 503)
    ├── FallbackFailedError                     a declared fallback raised or answered wrong
    ├── ComputeError                            a task an executor could not run or send back
    │   └── WorkerDiedError                     its worker died (killed, out of memory),
    │                                           after the executor's retries
    ├── StepFailedError                         a pipeline step raised, returned what
    │                                           cannot be stored, or lost its worker
    ├── SweepFailedError                        a hyperparameter sweep in which no trial
    │                                           completed (each failed or was pruned)
    ├── ModelExportError                        a converted model (ONNX) failed its
    │                                           equivalence check or could not be converted
    └── GateFailedError                         a release gate said no

    LoopmlWarning (UserWarning)                 something worked, but maybe not as meant
    └── UnapprovedVersionWarning                a bare model name resolved to its latest
                                                version, unapproved while a champion exists

Messages name the thing, the bad value, the rule and the fix (STYLE.md rule 9). Warnings are
not errors: Python shows each message once per place it comes from; silence them with
``warnings.filterwarnings("ignore", category=LoopmlWarning)``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "AccessDeniedError",
    "AlreadyExistsError",
    "ApprovalRequiredError",
    "ArtifactIntegrityError",
    "ComputeError",
    "ConflictError",
    "DriftTestError",
    "FallbackFailedError",
    "FilterSyntaxError",
    "GateFailedError",
    "GuardrailRejectedError",
    "InvalidArgumentError",
    "LoopmlError",
    "LoopmlWarning",
    "MalformedRequestError",
    "MetricUndefined",
    "ModelExportError",
    "ModelUnavailableError",
    "NotFittedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RowsRejectedError",
    "SchemaVersionError",
    "StepFailedError",
    "StoreError",
    "SweepFailedError",
    "UnapprovedVersionWarning",
    "UnauthenticatedError",
    "UnsupportedMediaTypeError",
    "UntrustedTypesError",
    "WorkerDiedError",
    "did_you_mean",
]


class LoopmlError(Exception):
    """Base of every error loopml raises on purpose."""


class InvalidArgumentError(LoopmlError, ValueError):
    """An argument has a bad value: the message names it, the rule and the fix."""


class FilterSyntaxError(InvalidArgumentError):
    """A search filter or order-by clause that does not parse.

    The message repeats the filter with a caret under the offending token.
    """

    def __init__(self, message: str, *, text: str, position: int) -> None:
        self.text = text
        self.position = position
        pointer = " " * position + "^"
        super().__init__(f"{message}\n  {text}\n  {pointer}")


class NotFoundError(LoopmlError, LookupError):
    """The named object does not exist."""


class AlreadyExistsError(LoopmlError):
    """An object with that name or id already exists."""


class ConflictError(LoopmlError):
    """The write contradicts what is already stored (and stored things are immutable)."""


class NotFittedError(LoopmlError, ValueError, AttributeError):
    """A stateful analyzer was used before ``fit``."""


class PermissionDeniedError(LoopmlError, PermissionError):
    """The store (or a path in it) cannot be written or read by this process."""


class AccessDeniedError(PermissionDeniedError):
    """The caller is authenticated, but the role of its token is too low for the action
    (HTTP 403): the message names the user, the role, the action and the role it needs."""


class UnauthenticatedError(LoopmlError):
    """A request to a server that needs a token came with none, or with a token that is
    malformed, unknown, revoked or expired (HTTP 401). The message says which, never the
    token's secret."""


class ArtifactIntegrityError(LoopmlError):
    """An artifact's bytes do not match the hash it was stored under (changed or truncated)."""


class UntrustedTypesError(LoopmlError):
    """A model package names types the loader does not trust; nothing of it was imported or
    built. ``types`` lists them (qualified names)."""

    def __init__(self, message: str, *, types: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.types: tuple[str, ...] = tuple(types)


class StoreError(LoopmlError):
    """A store could not be opened, reached or written."""


class SchemaVersionError(StoreError):
    """The metadata store has a schema this version of loopml does not know."""


class DriftTestError(LoopmlError):
    """A drift test failed on inputs that passed validation (the cause is chained)."""


class ModelExportError(LoopmlError):
    """A model could not be converted (ONNX), or its converted copy does not predict the same
    as the original within the stated tolerance (then ``report`` holds the check)."""

    #: The failed equivalence check, when there was one.
    report: object = None


class ComputeError(LoopmlError):
    """A task an executor (``loopml.compute``) could not run to the end or send back: its
    result or exception could not be pickled, or it was cancelled by a shutdown."""


class WorkerDiedError(ComputeError):
    """The worker running a task died (killed by a signal, out of memory, its node lost)
    and the executor's retries are spent. The message names the function and the reason."""


class StepFailedError(LoopmlError):
    """A pipeline step failed (it raised, returned something that cannot be stored between
    steps, or its worker died after the retries): the pipeline run is FAILED, the steps that
    finished are kept and reused when the pipeline runs again (it resumes there).

    Attributes:
        step: The step's name in the pipeline.
        run_id: The pipeline run (FAILED).
        step_run_id: The step's own child run, FAILED with the error.
        pipeline_run: The :class:`~loopml.pipelines.PipelineRun` as it ended (its ``steps``
            say which finished, which failed and which never ran).
    """

    def __init__(
        self,
        message: str,
        *,
        step: str,
        run_id: str,
        step_run_id: str | None = None,
        pipeline_run: object = None,
    ) -> None:
        super().__init__(message)
        self.step = step
        self.run_id = run_id
        self.step_run_id = step_run_id
        self.pipeline_run = pipeline_run


class SweepFailedError(LoopmlError):
    """No trial of a hyperparameter sweep (``loopml.sweep``) completed: each one failed or was
    pruned, so there is no best trial. The message counts them and gives the first error; each
    trial's run holds its own."""


class ApprovalRequiredError(ConflictError):
    """An alias (``champion``) may only point at an approved version: approve it first, or
    configure the registry to allow unapproved versions."""


class GateFailedError(LoopmlError):
    """A release gate failed."""


class MetricUndefined(LoopmlError, ValueError):  # noqa: N818  (the name says what it is)
    """A metric has no value on these data (one class only, no positive predictions, ...).

    Args:
        reason: A readable sentence naming the metric and what is missing.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ModelUnavailableError(LoopmlError):
    """The model failed or missed its deadline and there is no fallback (HTTP 503)."""


class FallbackFailedError(LoopmlError):
    """A declared fallback raised or answered in the wrong shape (the server's fault: 503)."""


class RowsRejectedError(InvalidArgumentError):
    """The model's library refused the values of these rows (a ``ValueError`` or an
    arithmetic error, e.g. ``Input X contains infinity`` after an overflow), and so did the
    fallback if there is one: the caller's input is at fault (HTTP 422), not the server."""


class GuardrailRejectedError(InvalidArgumentError):
    """A request broke an input guardrail whose action is ``reject`` (HTTP 422)."""


class MalformedRequestError(InvalidArgumentError):
    """An HTTP request body that is empty or does not parse (HTTP 400)."""


class PayloadTooLargeError(InvalidArgumentError):
    """An HTTP request body over the configured limit (HTTP 413)."""


class UnsupportedMediaTypeError(InvalidArgumentError):
    """An HTTP request body of a content type the endpoint does not take (HTTP 415)."""


class LoopmlWarning(UserWarning):
    """Base of the warnings loopml gives: the call worked, but maybe not as the caller meant."""


class UnapprovedVersionWarning(LoopmlWarning):
    """A bare model name (``credit-default``) resolved to its latest version, which is not
    approved while the model has a champion: name the version meant (``@champion``, or
    ``@latest`` on purpose)."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return `` Did you mean 'x'?`` for the closest choice, or an empty string.

    Args:
        name: The unknown name the user gave.
        choices: The names that exist.

    Returns:
        A sentence to append to an error message (with a leading space), or ``""``.
    """
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""
