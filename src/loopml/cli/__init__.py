"""Layer 4, the command line: ``loopml init|doctor|experiments|runs``. Thin: parse, call a
service, render with Rich. Errors print one clear line (the traceback only with ``--debug``)."""

from loopml.cli.app import app, main

__all__ = ["app", "main"]
