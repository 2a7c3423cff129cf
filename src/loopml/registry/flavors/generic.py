"""The ``generic`` flavor: :class:`~loopml.registry.python_model.PythonModel` subclasses and,
as a last resort, any object with a callable ``predict``, saved with cloudpickle.

The payload is ``model.pkl`` plus, for a PythonModel, its artifacts under
``artifacts/<name>/<filename>``. cloudpickle pickles classes defined in ``__main__`` (scripts,
notebooks) by value, so they load where that script is not importable.
"""

from __future__ import annotations

import copy
import pickle
import re
import shutil
from collections.abc import Mapping, Set
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidArgumentError
from loopml.registry.flavors import import_library
from loopml.registry.flavors.base import Flavor, Predictor
from loopml.registry.flavors.sklearn import plain_classes
from loopml.registry.python_model import PythonModel

__all__ = ["ARTIFACTS_FOLDER", "PICKLE_FILE", "GenericFlavor", "GenericPredictor"]

#: The payload file.
PICKLE_FILE = "model.pkl"
#: The folder of a PythonModel's artifacts inside the package.
ARTIFACTS_FOLDER = "artifacts"
_ARTIFACT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class GenericPredictor:
    """Any object with a ``predict(frame)`` method behind the :class:`Predictor` convention.

    Results go through ``np.asarray``; a ``(rows, 1)`` prediction becomes 1-D.

    Args:
        model: A PythonModel, or an object with a callable ``predict``.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        if isinstance(model, PythonModel):
            labels: Any = model.classes
        else:
            labels = getattr(model, "classes", getattr(model, "classes_", None))
        self.classes: tuple[Any, ...] = plain_classes(labels)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Return one prediction per row."""
        result = np.asarray(self.model.predict(frame))
        return result.ravel() if result.ndim == 2 and result.shape[1] == 1 else result

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Return class probabilities, or None when the model has none."""
        method = getattr(self.model, "predict_proba", None)
        if not callable(method):
            return None
        result = method(frame)
        return None if result is None else np.asarray(result)


def _copy_artifacts(model: PythonModel, folder: Path) -> dict[str, str]:
    """Copy the model's artifacts into ``folder/artifacts``; return their packaged paths."""
    sources: dict[str, Path] = {}
    for name, source in dict(model.artifacts).items():
        if not isinstance(name, str) or not _ARTIFACT_NAME.fullmatch(name):
            raise InvalidArgumentError(
                f"The artifact names of {type(model).__name__}.artifacts must be letters, "
                f"digits, '_', '.' or '-' (not starting with '.' or '-'). Got {name!r} "
                "instead. Rename the key."
            )
        path = Path(source)
        if not path.exists():
            raise InvalidArgumentError(
                f"The artifact {name!r} of {type(model).__name__} is {str(path)!r}, which "
                f"does not exist. Point artifacts[{name!r}] at an existing file."
            )
        sources[name] = path
    packaged: dict[str, str] = {}
    for name, path in sources.items():
        relative = Path(ARTIFACTS_FOLDER, name, path.name)
        target = folder / relative
        target.parent.mkdir(parents=True)
        if path.is_dir():
            shutil.copytree(path, target)
        else:
            shutil.copyfile(path, target)
        packaged[name] = relative.as_posix()
    return packaged


class GenericFlavor(Flavor):
    """PythonModel subclasses and any object with a callable ``predict``, cloudpickled."""

    name: ClassVar[str] = "generic"
    libraries: ClassVar[tuple[str, ...]] = ("cloudpickle",)
    extra: ClassVar[str | None] = None
    uses_pickle: ClassVar[bool] = True

    def detect(self, model: object) -> bool:
        """Tell whether ``model`` is a PythonModel or has a callable ``predict``."""
        if isinstance(model, type):
            return False
        return isinstance(model, PythonModel) or callable(getattr(model, "predict", None))

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        """Copy a PythonModel's artifacts and cloudpickle ``model`` to ``model.pkl``.

        Returns:
            ``{"class": qualified class name, "format": "cloudpickle", "python_model": bool,
            "artifacts": {name: packaged path relative to the folder}}``.

        Raises:
            InvalidArgumentError: An artifact is missing or badly named, or the model cannot
                be pickled; nothing is left in ``folder``.
        """
        cloudpickle = import_library("cloudpickle", flavor=self)
        kind = type(model)
        written = [folder / PICKLE_FILE, folder / ARTIFACTS_FOLDER]
        try:
            artifacts = _copy_artifacts(model, folder) if isinstance(model, PythonModel) else {}
            with written[0].open("wb") as file:
                cloudpickle.dump(model, file, protocol=5)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            _remove(written)
            raise InvalidArgumentError(
                f"The model {kind.__qualname__} cannot be pickled with cloudpickle: {exc}. "
                "Keep open files, connections and locks out of its attributes (open them "
                "in PythonModel.load instead)."
            ) from exc
        except BaseException:
            _remove(written)
            raise
        return {
            "class": f"{kind.__module__}.{kind.__qualname__}",
            "format": "cloudpickle",
            "python_model": isinstance(model, PythonModel),
            "artifacts": artifacts,
        }

    def load(
        self, folder: Path, details: Mapping[str, Any], *, trusted: Set[str] = frozenset()
    ) -> Predictor:
        """Unpickle ``model.pkl`` (its hash already verified), call a PythonModel's ``load``
        hook with its packaged artifacts, and wrap it."""
        import_library("cloudpickle", flavor=self)
        with (folder / PICKLE_FILE).open("rb") as file:
            model = pickle.load(file)  # the payload hash was verified by the caller
        if isinstance(model, PythonModel):
            recorded: Mapping[str, str] = details.get("artifacts") or {}
            model.load({name: folder / relative for name, relative in recorded.items()})
        return GenericPredictor(model)

    def wrap(self, model: Any) -> Predictor:
        """Return the in-memory model as a :class:`Predictor`.

        A :class:`PythonModel` with artifacts is prepared as a loaded copy would be: a shallow
        copy of it gets ``load`` with the original artifact paths (the caller's object is
        left as it is), so registration compares like with like.
        """
        if isinstance(model, PythonModel) and model.artifacts:
            prepared = copy.copy(model)
            prepared.load({name: Path(path) for name, path in model.artifacts.items()})
            return GenericPredictor(prepared)
        return GenericPredictor(model)


def _remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
