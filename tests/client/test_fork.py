"""A process that forks while it has buffered metrics: parent and child each write their own
points once (none lost, none doubled), each over its own connections."""

from __future__ import annotations

import os

import pytest

import loopml


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
@pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork:DeprecationWarning")
def test_fork_with_buffered_points(store_env: dict[str, str]) -> None:
    with loopml.start_run(experiment="fork") as run:
        for i in range(100):
            run.log_metric("parent", float(i), step=i)  # buffered when the fork happens
        child = loopml.start_run(experiment="fork", name="child")
        child_id = child.run_id
        pid = os.fork()
        if pid == 0:  # the child: log to its own run and leave without running pytest's exit
            code = 0
            try:
                for i in range(50):
                    child.log_metric("child", float(i), step=i)
                child.end()
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        run.log_metric("parent", 100.0, step=100)
    client = loopml.LoopmlClient()
    assert [p.step for p in client.get_metric_history(run.run_id, "parent")] == list(range(101))
    assert [p.step for p in client.get_metric_history(child_id, "child")] == list(range(50))
    assert client.get_run(child_id).status.value == "FINISHED"
