"""``@loopml.pipeline``: a function whose step calls make a graph, run with ``.run()``.

The function is traced once per run: its step calls are recorded (not run), which gives the
graph, the parameters of each step and what the pipeline returns. Everything that can be
checked is checked there, before any run is written or any step runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidArgumentError, did_you_mean
from loopml.pipelines.graph import Trace, check_json, current_trace, tracing
from loopml.pipelines.returns import encode_returns
from loopml.pipelines.step_function import check_step_name

if TYPE_CHECKING:
    from loopml.core.settings import Settings
    from loopml.pipelines.result import PipelineRun

#: The options of :meth:`Pipeline.run`; a pipeline parameter may not take these names.
RUN_OPTIONS = ("executor", "experiment", "force", "max_workers", "settings")


class Pipeline:
    """A function made a pipeline by :func:`pipeline`.

    Attributes:
        fn: The pipeline function.
        name: Its name (the pipeline run's name, and its default experiment).
    """

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None) -> None:
        if not callable(fn) or not hasattr(fn, "__code__"):
            raise InvalidArgumentError(
                f"@loopml.pipeline decorates a function (def ...); got {fn!r} "
                f"({type(fn).__name__})."
            )
        self.fn = fn
        self.name = check_step_name(fn.__name__ if name is None else name, what="pipeline")
        self.signature = inspect.signature(fn)
        for param in self.signature.parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
                raise InvalidArgumentError(
                    f"Pipeline {self.name!r} has the parameter {param} "
                    f"({param.kind.description}); a pipeline takes named parameters only "
                    "(they are given to .run() by name and recorded as the run's params)."
                )
            if param.name in RUN_OPTIONS:
                raise InvalidArgumentError(
                    f"Pipeline {self.name!r} has a parameter named {param.name!r}, which is "
                    f"an option of .run() ({', '.join(RUN_OPTIONS)}). Rename the parameter."
                )
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<pipeline {self.name!r} of {self.fn.__module__}.{self.fn.__qualname__}>"

    @property
    def source(self) -> str:
        """``module:qualname`` of the pipeline function."""
        return f"{self.fn.__module__}:{self.fn.__qualname__}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Inside another pipeline being traced: its steps join that pipeline's graph.
        Elsewhere: an error that says to call :meth:`run`."""
        if current_trace() is None:
            raise InvalidArgumentError(
                f"Pipeline {self.name!r} is run with {self.name}.run(**params) (or `loopml "
                "pipeline run`), not called: calling it only makes sense inside another "
                "pipeline, whose graph its steps then join."
            )
        return self.fn(*args, **kwargs)

    def bind(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The pipeline's parameters: those given, then the defaults.

        Raises:
            InvalidArgumentError: An unknown name (with the closest one), a missing one, or
                a value that is not JSON.
        """
        known = list(self.signature.parameters)
        for name in params:
            if name not in known:
                raise InvalidArgumentError(
                    f"Pipeline {self.name!r} has no parameter {name!r}; its parameters are "
                    f"{', '.join(known) or 'none'}.{did_you_mean(name, known)}"
                )
        bound: dict[str, Any] = {}
        for name, param in self.signature.parameters.items():
            if name in params:
                value = params[name]
            elif param.default is not inspect.Parameter.empty:
                value = param.default
            else:
                raise InvalidArgumentError(
                    f"Pipeline {self.name!r} needs the parameter {name!r} (it has no "
                    f"default): pass {name}=... to .run(), or --param {name}=... to "
                    "`loopml pipeline run`."
                )
            check_json(value, f"The parameter {name!r} of pipeline {self.name!r}")
            bound[name] = value
        return bound

    def trace(self, params: Mapping[str, Any]) -> tuple[Trace, Any]:
        """Trace the function with ``params`` (already bound): its graph and what it
        returns (JSON, with handles marked)."""
        if current_trace() is not None:
            raise InvalidArgumentError(
                f"Pipeline {self.name!r} was run inside another pipeline's function. Call "
                f"{self.name}(...) there instead (its steps then join that pipeline)."
            )
        trace = Trace(self.name)
        with tracing(trace):
            returned = self.fn(**params)
        if not trace.nodes:
            raise InvalidArgumentError(
                f"Pipeline {self.name!r} calls no step: its function must call functions "
                "decorated with @loopml.step."
            )
        return trace, encode_returns(returned, trace)

    def run(
        self,
        *,
        executor: str = "inprocess",
        force: bool = False,
        max_workers: int | None = None,
        experiment: str | None = None,
        settings: Settings | None = None,
        **params: Any,
    ) -> PipelineRun:
        """Run the pipeline: every step whose inputs are ready at once on the executor,
        reusing the outputs of finished runs of unchanged steps.

        Args:
            executor: ``inprocess`` (default: steps one after the other in this process),
                ``process`` (a local process pool) or ``ray``.
            force: Run every step, cached or not (their new runs are then the cache).
            max_workers: Processes (``process``) or CPUs of a local Ray (``ray``).
            experiment: The experiment of the run (default: the pipeline's name).
            settings: The store (default: resolved from the environment, as the SDK does).
            **params: The pipeline function's parameters.

        Returns:
            The :class:`~loopml.pipelines.PipelineRun`, FINISHED, with its outputs loaded.

        Raises:
            InvalidArgumentError: A bad parameter, a step that cannot be sent to the
                executor's workers, or a bad graph: before anything runs or is written.
            ImportError: ``executor="ray"`` without Ray installed.
            StepFailedError: A step failed; the pipeline run is FAILED, and running it again
                resumes after the steps that finished.

        Example:
            >>> result = train.run(executor="process", n_estimators=200)  # doctest: +SKIP
            >>> result.steps["fit"].cache_hit, result.outputs["accuracy"]  # doctest: +SKIP
            (False, 0.96)
        """
        from loopml.pipelines.runner import run_pipeline

        if not isinstance(force, bool):
            raise InvalidArgumentError(f"force must be True or False. Got {force!r} instead.")
        return run_pipeline(
            self,
            self.bind(params),
            executor=executor,
            force=force,
            max_workers=max_workers,
            experiment=experiment,
            settings=settings,
        )


def pipeline(fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
    """Make a function a pipeline (``@loopml.pipeline`` or ``@loopml.pipeline(name=...)``).

    Its parameters are the pipeline's (JSON values, given to :meth:`Pipeline.run` by name);
    inside it, step calls return handles that later steps take; what it returns (handles,
    plain values, tuples, lists or dicts of them) is the run's ``outputs``.

    Raises:
        InvalidArgumentError: Not a function, a bad name, or a parameter named like an
            option of ``run`` (``executor``, ``experiment``, ``force``, ``max_workers``,
            ``settings``).

    Example:
        >>> import loopml
        >>> @loopml.step
        ... def double(x: int) -> int:
        ...     return 2 * x
        >>> @loopml.pipeline
        ... def twice(x: int = 1):
        ...     return double(double(x))
        >>> twice.name
        'twice'
    """

    def make(function: Callable[..., Any]) -> Pipeline:
        return Pipeline(function, name=name)

    return make if fn is None else make(fn)
