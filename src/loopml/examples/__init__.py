"""Runnable examples on real data shipped in packages (no downloads). ``make demo`` runs
:mod:`loopml.examples.demo`; :mod:`loopml.examples.census` reads the census employment data
(with delayed labels) that NannyML's package carries."""
