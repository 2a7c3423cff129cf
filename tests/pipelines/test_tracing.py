"""Tracing a pipeline: handles wire steps, and what cannot make a sound graph is refused
with a message before anything runs (no store is touched: these tests have none)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import loopml
from loopml.core.errors import InvalidArgumentError
from loopml.pipelines import Handle, Pipeline, Step
from loopml.pipelines.step_function import count_outputs
from tests.pipelines import flows


@loopml.step
def inc(x: int) -> int:
    return x + 1


@loopml.step(name="add_up")
def add(values: list[int], *, offset: int = 0) -> int:
    return sum(values) + offset


def test_a_step_outside_a_pipeline_is_the_function() -> None:
    assert inc(1) == 2
    assert add([1, 2], offset=3) == 6
    assert isinstance(inc, Step) and inc.name == "inc" and add.name == "add_up"
    assert inc.__name__ == "inc" and inc.__wrapped__ is inc.fn  # type: ignore[attr-defined]
    assert loopml.step is loopml.pipelines.step and loopml.pipeline is loopml.pipelines.pipeline


def test_tracing_builds_the_graph() -> None:
    @loopml.pipeline
    def chain(x: int = 1) -> Any:
        a = inc(x)
        b = inc(a)
        return add([a, b], offset=x)

    trace, returns = chain.trace(chain.bind({}))
    assert list(trace.nodes) == ["inc", "inc-2", "add_up"]
    assert trace.nodes["inc"].params == {"x": 1} and trace.nodes["inc"].upstream == set()
    assert trace.nodes["inc-2"].upstream == {"inc"}
    assert trace.nodes["add_up"].upstream == {"inc", "inc-2"}
    assert trace.nodes["add_up"].params == {"offset": 1}
    assert returns == {"$step": ["add_up", 0]}


def test_tuple_annotations_give_several_handles() -> None:
    assert count_outputs(flows.split.fn) == 2
    assert count_outputs(flows.branch.fn) == 1  # dict[str, Any]

    def variadic() -> tuple[int, ...]:
        return (1,)

    assert count_outputs(variadic) == 1

    @loopml.pipeline
    def halves() -> Any:
        first, second = flows.split(flows.load_cancer())
        assert isinstance(first, Handle) and first.index == 0 and second.index == 1
        return first

    halves.trace({})


def test_a_handle_used_as_a_value_is_refused() -> None:
    @loopml.pipeline
    def branching(x: int = 1) -> Any:
        if inc(x):
            return inc(2)
        return None

    with pytest.raises(
        InvalidArgumentError,
        match=r"<output of step 'inc' in pipeline 'branching'> was used as a value \(its truth "
        r"value\) while the pipeline is traced\..*pass it to another step",
    ):
        branching.trace(branching.bind({}))

    @loopml.pipeline
    def unpacks() -> Any:
        a, _b = inc(1)
        return a

    with pytest.raises(InvalidArgumentError, match=r"unpacked or iterated; a step returns"):
        unpacks.trace({})


def test_handles_from_elsewhere_are_refused() -> None:
    kept: list[Handle] = []

    @loopml.pipeline
    def first() -> Any:
        handle = inc(1)
        kept.append(handle)
        return handle

    @loopml.pipeline
    def second() -> Any:
        return inc(kept[0])

    first.trace({})
    with pytest.raises(
        InvalidArgumentError, match=r"a handle from another pipeline \('first'\)\. A step takes"
    ):
        second.trace({})

    earlier: list[Handle] = []

    @loopml.pipeline
    def again() -> Any:
        if earlier:  # the second trace reuses the first trace's handle
            return inc(earlier[0])
        earlier.append(inc(1))
        return earlier[0]

    again.trace({})
    with pytest.raises(InvalidArgumentError, match=r"an earlier trace of this pipeline"):
        again.trace({})
    with pytest.raises(InvalidArgumentError, match=r"Step 'inc' was called outside a pipeline"):
        inc(kept[0])

    @loopml.pipeline
    def returns_foreign() -> Any:
        inc(1)
        return kept[0]

    with pytest.raises(InvalidArgumentError, match=r"returns .* a handle it did not make"):
        returns_foreign.trace({})


def test_bad_step_arguments_are_refused() -> None:
    @loopml.pipeline
    def frame_as_param() -> Any:
        return inc(pd.DataFrame({"x": [1]}))

    with pytest.raises(
        InvalidArgumentError,
        match=r"The parameter 'x' of step 'inc' is not a JSON value: it holds a DataFrame\.",
    ):
        frame_as_param.trace({})

    @loopml.pipeline
    def mixed() -> Any:
        return add([inc(1), 2])

    with pytest.raises(InvalidArgumentError, match=r"mixes handles with other values"):
        mixed.trace({})

    @loopml.pipeline
    def too_many() -> Any:
        return inc(1, 2)

    with pytest.raises(
        InvalidArgumentError,
        match=r"Step 'inc' cannot be called with these arguments: too many positional",
    ):
        too_many.trace({})


def test_bad_pipeline_parameters_are_refused() -> None:
    with pytest.raises(
        InvalidArgumentError,
        match=r"Pipeline 'train' has no parameter 'n_estimator'; its parameters are "
        r"n_estimators, test_size\. Did you mean 'n_estimators'\?",
    ):
        flows.train.run(n_estimator=5)
    with pytest.raises(InvalidArgumentError, match=r"Pipeline 'resumable' needs the parameter"):
        flows.resumable.run(marker="m")
    with pytest.raises(InvalidArgumentError, match=r"'n_estimators' of pipeline 'train' is not"):
        flows.train.run(n_estimators=pd.Series([1]))


def test_bad_definitions_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match=r"a step takes named parameters only"):

        @loopml.step
        def variadic(*frames: Any) -> None: ...

    with pytest.raises(InvalidArgumentError, match=r"'force', which is an option of \.run\(\)"):

        @loopml.pipeline
        def shadowing(force: bool = False) -> None: ...

    with pytest.raises(InvalidArgumentError, match=r"retries= of step 'inc' must be an int >= 0"):
        loopml.step(retries=-1)(inc.fn)
    with pytest.raises(InvalidArgumentError, match=r"The name of a step must be"):
        loopml.step(name="has space")(inc.fn)

    @loopml.pipeline
    def empty() -> Any:
        return 1

    with pytest.raises(InvalidArgumentError, match=r"Pipeline 'empty' calls no step"):
        empty.trace({})
    with pytest.raises(InvalidArgumentError, match=r"is run with empty.run\(\*\*params\)"):
        empty()


def test_a_pipeline_called_inside_another_joins_its_graph() -> None:
    @loopml.pipeline
    def inner(x: int = 1) -> Any:
        return inc(x)

    @loopml.pipeline
    def outer() -> Any:
        return inc(inner(5))

    trace, _ = outer.trace({})
    assert list(trace.nodes) == ["inc", "inc-2"]
    assert isinstance(outer, Pipeline)


def test_decorating_steps_and_pipelines_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, loopml\n"
        "@loopml.step\ndef f(x: int) -> int:\n    return x\n"
        "@loopml.pipeline\ndef p(x: int = 1):\n    return f(x)\n"
        "p.trace(p.bind({}))\n"
        "heavy = ['pandas', 'numpy', 'pyarrow', 'sqlalchemy', 'sklearn', 'ray', 'cloudpickle']\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
