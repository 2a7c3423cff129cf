"""The demo's wall time, measured by the session fixture of tests/demo_run.py, in the summary."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    from tests.demo_run import DEMO_SECONDS

    seconds = config.stash.get(DEMO_SECONDS, None)
    if seconds is not None:
        terminalreporter.write_sep("-", f"make demo's story ran in {seconds:.1f} s wall time")
