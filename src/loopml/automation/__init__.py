"""Layer 3 (top): the closed loop's agent: policies, triggers, durable steps, leases, the
timeline.

- :mod:`.policy`, :mod:`.policy_specs` and :mod:`.policy_fields`: loop policies (YAML)
  validated on load;
  :mod:`.policy_check`: what they name, checked against the store before anything runs.
- :mod:`.triggers`: what starts a loop run (a schedule, a new dataset version, an alert) and
  the claim that makes each occurrence run once.
- :mod:`.steps` (data, train, evaluate), :mod:`.live_steps` (release, observe, approval,
  promote, rollback) and :mod:`.machine`, which stores each step's outcome with its event
  before the next one starts; :mod:`.training` and :mod:`.live_evidence`: the train step's
  pipeline run and the observe step's live comparison.
- :mod:`.agent`: the long-lived agent (leases, heartbeat, ticks); :mod:`.loop_events`: the
  ``loop.*`` events; :mod:`.timeline` and :mod:`.service`: what ``loopml loop`` shows.

It may import every service below it (pipelines, evaluation, serving, monitoring, registry);
nothing imports it but the interfaces.
"""

from __future__ import annotations

from loopml.automation.agent import Agent, TickReport, default_name
from loopml.automation.live_evidence import LiveEvidence
from loopml.automation.policy import LoopPolicy, load_policy
from loopml.automation.policy_check import check_policy
from loopml.automation.service import LoopService
from loopml.automation.timeline import TimelineEntry

__all__ = [
    "Agent",
    "LiveEvidence",
    "LoopPolicy",
    "LoopService",
    "TickReport",
    "TimelineEntry",
    "check_policy",
    "default_name",
    "load_policy",
]
