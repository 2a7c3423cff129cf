"""``loopml agent``: run loop policies (their triggers and loop runs) as a long-lived process,
or until nothing is runnable (``--once``)."""

from __future__ import annotations

import datetime as dt
import os
import signal
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def _duration_s(value: str, option: str) -> float:
    from loopml.automation.policy_fields import duration_ms
    from loopml.core.errors import InvalidArgumentError

    text = value.strip()
    if text == "0":
        return 0.0
    found = duration_ms(text)
    if found is None:
        raise InvalidArgumentError(
            f"{option} {value!r} is not a duration: write a whole number and a unit (s, min, "
            "h, d, w), e.g. 30s or 5min."
        )
    return found / 1000


def _say(line: str) -> None:
    stamp = dt.datetime.now().strftime("%H:%M:%S")
    console.print(f"[dim]{stamp}[/] {escape(line)}")


def agent_command(
    policy: list[Path] = typer.Option(
        ..., "--policy", "-p", help="A loop policy (YAML); repeat for several."
    ),
    interval: str = typer.Option(
        "30s", "--interval", help="Time between ticks, and before a waiting run is looked at."
    ),
    once: bool = typer.Option(
        False, "--once", help="Run until nothing is runnable, then exit (tests, demos, cron)."
    ),
    name: str | None = typer.Option(
        None, "--name", help="The agent's name (default agent@<host>); one agent per name."
    ),
    lease: str = typer.Option(
        "60s", "--lease", help="How long a run stays leased to this agent without a heartbeat."
    ),
) -> None:
    """Run loop policies: claim what their triggers saw, and advance each loop run (train,
    gate, release, observe, approve, promote or roll back). SIGTERM stops after the current
    step; a killed agent's runs are taken over (by it restarted, or by another agent) where
    their last stored step left them."""
    from loopml.automation import Agent, load_policy
    from loopml.cli.state import state
    from loopml.core.entities.automation import OPEN_STATUSES

    policies = [load_policy(path) for path in policy]
    backend = state.client().backend
    agent = Agent(
        backend,
        policies,
        name=name,
        interval_s=_duration_s(interval, "--interval"),
        lease_s=_duration_s(lease, "--lease") or 1.0,
        say=_say,
    )

    def on_signal(signum: int, _frame: Any) -> None:
        if agent.stop.is_set():
            raise KeyboardInterrupt  # a second signal abandons the step in progress
        agent.stop.set()
        err_console.print(
            f"{signal.Signals(signum).name}: stopping after the current step (send it again "
            "to abandon the step; its run is taken over where it was)."
        )

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with agent:
            names = ", ".join(p.name for p in policies)
            _say(
                f"agent {agent.name} (pid {os.getpid()}) runs {names}"
                + (" until nothing is runnable" if once else f" every {interval}")
            )
            if once:
                reports = agent.run_once()
                claimed = sum(len(r.claimed) for r in reports)
                advanced = {run.run_id for r in reports for run in r.advanced}
                still = [
                    r
                    for r in backend.loops.list_runs(statuses=OPEN_STATUSES)
                    if r.policy in agent.policies
                ]
                _say(
                    f"nothing runnable: {claimed} run(s) claimed, {len(advanced)} advanced, "
                    f"{len(still)} open (waiting for evidence or approval, or held by another "
                    "agent)"
                )
            else:
                agent.run_forever()
                _say("stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if agent.lost_name:
        from loopml.core.errors import ConflictError

        raise ConflictError(
            f"Agent {agent.name!r} stopped: another agent took its name over (its heartbeat "
            "had lapsed). Give each agent its own --name."
        )
