"""PythonModel: the base class for models that no library flavor knows.

Subclass it, implement :meth:`PythonModel.predict`, and log an instance: the ``generic``
flavor pickles it with cloudpickle (so classes defined in a script or notebook work), copies
the files named in :attr:`PythonModel.artifacts` into the package, and calls
:meth:`PythonModel.load` with their packaged paths when the model is loaded.

Example:
    >>> import pandas as pd
    >>> class Threshold(PythonModel):
    ...     classes = (False, True)
    ...     def predict(self, frame):
    ...         return (frame["score"] > 0.5).to_numpy()
    >>> Threshold().predict(pd.DataFrame({"score": [0.2, 0.9]})).tolist()
    [False, True]
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PythonModel"]


class PythonModel(abc.ABC):
    """A model written in Python: subclass it and implement :meth:`predict`.

    Attributes:
        artifacts: Files (or folders) the model needs at prediction time, by name. They are
            copied into the package under ``artifacts/<name>/<filename>`` when the model is
            logged, and :meth:`load` receives their packaged paths. Set it in ``__init__``
            or as a class attribute.
        classes: The class labels in the order of :meth:`predict_proba`'s columns; empty
            for regressors.
    """

    artifacts: Mapping[str, str | Path] = MappingProxyType({})
    classes: tuple[Any, ...] = ()

    def load(self, artifacts: Mapping[str, Path]) -> None:  # noqa: B027 - optional hook
        """Read the packaged artifacts; called once after the model is unpickled.

        Args:
            artifacts: The packaged path of each entry of :attr:`artifacts`, by name.
        """

    @abc.abstractmethod
    def predict(self, frame: pd.DataFrame) -> Any:
        """Return one prediction per row of ``frame`` (anything ``np.asarray`` accepts).

        Args:
            frame: The input columns of the model's signature, in order.
        """

    def predict_proba(self, frame: pd.DataFrame) -> Any:
        """Return class probabilities (rows x :attr:`classes`), or None (the default) when
        the model has none.

        Args:
            frame: The input columns of the model's signature, in order.
        """
        return None
