"""Runnable examples on real data shipped in packages (no downloads). ``make demo`` runs
:mod:`loopml.examples.demo`."""
