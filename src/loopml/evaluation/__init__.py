"""Layer 3: evaluation and release gates.

- :mod:`.service`: :class:`EvaluationService`: evaluate a version on several datasets, by
  slice, with bootstrap intervals, fairness and costs, against a baseline; gate; report.
- :mod:`.metrics_plan`: task detection, metric names, and the glue to :mod:`loopml.stats`.
- :mod:`.scoring`: a model's outputs on rows in the metric kernels' conventions, curves.
- :mod:`.slices`: declared slices and the candidates of the worst-slice search.
- :mod:`.fairness`: fairness measures with fairlearn. :mod:`.costs`: latency, memory, size.
- :mod:`.gate`, :mod:`.gate_rules`, :mod:`.policy`: release-gate policies and their checks.
- :mod:`.report` and :mod:`.svg`: the self-contained HTML report.
"""

from loopml.evaluation.gate import check_gate
from loopml.evaluation.policy import GatePolicy, load_policy
from loopml.evaluation.service import EvaluationService

__all__ = ["EvaluationService", "GatePolicy", "check_gate", "load_policy"]
