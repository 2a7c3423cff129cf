"""Layer 3: the model registry: versions with lineage, signatures, aliases, approvals,
rollback and safe loading.

- :mod:`.service`: :class:`ModelRegistry`, everything the SDK and CLI do with models.
- :mod:`.flavors`: how each kind of model is detected, saved, loaded and called.
- :mod:`.signature` and :mod:`.enforce`: inferring a model's signature, enforcing it on input.
- :mod:`.package`: the package (manifest + payload, content-addressed, verified before load).
- :mod:`.loaded`: :class:`LoadedModel` and the per-process cache of loaded models.
- :mod:`.aliases`: alias history (the model's log in commit order) and the rollback walk.
- :mod:`.changes`: the rules of alias moves and reviews, decided under the model's lock.
- :mod:`.lineage`: version -> run -> datasets -> commit.
- :mod:`.registration`: :class:`RegisterOptions` (defined once), the checks of a registration
  and its event.
- :mod:`.onnx_export`: ONNX export of scikit-learn models, accepted after an equivalence check
  (:mod:`.onnx_converters`: the converters it runs); :mod:`.exports`: recording the export.
"""

from loopml.registry.lineage import Lineage
from loopml.registry.loaded import LoadedModel
from loopml.registry.python_model import PythonModel
from loopml.registry.refs import CHALLENGER, CHAMPION, ModelRef, parse_model_ref
from loopml.registry.registration import RegisterOptions
from loopml.registry.service import ModelRegistry

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "Lineage",
    "LoadedModel",
    "ModelRef",
    "ModelRegistry",
    "PythonModel",
    "RegisterOptions",
    "parse_model_ref",
]
