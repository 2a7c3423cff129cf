"""Process state of one CLI invocation (global options) and the client it uses."""

from __future__ import annotations

from dataclasses import dataclass

from loopml.client import LoopmlClient


@dataclass
class CliState:
    """Options given before the command."""

    debug: bool = False

    def client(self) -> LoopmlClient:
        """Open the client from the resolved settings."""
        return LoopmlClient()


state = CliState()
