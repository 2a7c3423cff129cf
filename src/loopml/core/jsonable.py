"""JSON for frozen dataclasses, derived from their fields' annotations (written once).

Every entity, result and report of loopml is a frozen dataclass that round-trips through JSON
(STYLE.md rule 14). Instead of a hand-written ``to_dict``/``from_dict`` pair per class, a class
inherits :class:`Jsonable`, and both directions follow from its annotations:

- ``str``, ``int``, ``bool`` and ``None`` as themselves; ``float`` as a number, or the strings
  ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` that JSON lacks (read back by ``float()``);
- enums by value; ``NewType`` ids as their base type; ``Literal`` values checked on the way in;
- nested dataclasses as objects; ``tuple[T, ...]``, ``tuple[A, B]`` and ``list[T]`` as arrays;
  ``Mapping[K, V]`` as objects; ``X | None`` as ``X`` or ``null``;
- ``Any`` (and ``Mapping[str, Any]``) passed through unchanged: such fields hold JSON-ready
  values already.

A field missing from the input takes its default; a missing field without a default is an
:class:`~loopml.core.errors.InvalidArgumentError` naming the class and the field. Read-only
properties listed in ``json_properties`` are added to the output (and ignored on the way in).

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Point(Jsonable):
    ...     x: float
    ...     label: str | None = None
    >>> Point(float("nan")).to_dict()
    {'x': 'NaN', 'label': None}
    >>> Point.from_dict({"x": 1}).x
    1.0
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal, Self, TypeVar, Union

from loopml.core.errors import InvalidArgumentError

__all__ = ["Jsonable", "from_jsonable", "to_jsonable"]

Codec = Callable[[Any], Any]
T = TypeVar("T")


class Jsonable:
    """Mixin for frozen dataclasses: ``to_dict()`` and ``from_dict()`` from the annotations."""

    __slots__ = ()

    #: Read-only properties added to :meth:`to_dict`'s output (derived, so not read back).
    json_properties: ClassVar[tuple[str, ...]] = ()
    #: What pydantic (the REST API's serialiser) reads: non-finite floats as the same strings
    #: as :meth:`to_dict`, not ``null``, so NaN and the infinities cross the API faithfully.
    __pydantic_config__: ClassVar[Mapping[str, Any]] = {"ser_json_inf_nan": "strings"}

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (non-finite floats as strings)."""
        return to_jsonable(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from :meth:`to_dict` output.

        Raises:
            InvalidArgumentError: ``data`` lacks a field without a default, or holds a value
                of the wrong kind.
        """
        return from_jsonable(cls, data)


def to_jsonable(obj: Any) -> dict[str, Any]:
    """Return the JSON-ready dict of a dataclass instance (see the module docstring)."""
    return _codecs(type(obj))[0](obj)  # type: ignore[no-any-return]


def from_jsonable(cls: type[T], data: Mapping[str, Any]) -> T:
    """Build a dataclass ``cls`` from JSON-ready ``data`` (see the module docstring).

    Raises:
        InvalidArgumentError: ``data`` lacks a required field or holds a value of the wrong kind.
    """
    return _codecs(cls)[1](data)  # type: ignore[no-any-return]


_CACHE: dict[type, tuple[Codec, Codec]] = {}


def _codecs(cls: type) -> tuple[Codec, Codec]:
    """The (encode, decode) pair of a dataclass, built once per class."""
    found = _CACHE.get(cls)
    if found is None:
        found = _CACHE[cls] = _dataclass_codecs(cls)
    return found


def _dataclass_codecs(cls: type) -> tuple[Codec, Codec]:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    plans = [(f.name, *_type_codecs(hints[f.name]), _default(f)) for f in fields]
    extra: tuple[str, ...] = getattr(cls, "json_properties", ())

    def encode(obj: Any) -> dict[str, Any]:
        out = {name: enc(getattr(obj, name)) for name, enc, _dec, _d in plans}
        for name in extra:
            value = getattr(obj, name)
            out[name] = _float_out(value) if isinstance(value, float) else value
        return out

    def decode(data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise InvalidArgumentError(
                f"{cls.__name__} is read from a JSON object; got {type(data).__name__}."
            )
        values: dict[str, Any] = {}
        for name, _enc, dec, default in plans:
            if name in data:
                try:
                    values[name] = dec(data[name])
                except (TypeError, ValueError, KeyError) as exc:
                    raise InvalidArgumentError(
                        f"{cls.__name__}.{name} cannot be read from {data[name]!r}: {exc}"
                    ) from None
            elif default is _MISSING:
                raise InvalidArgumentError(
                    f"{cls.__name__} data has no {name!r}; it is required "
                    f"(keys given: {sorted(data)})."
                )
        return cls(**values)

    return encode, decode


_MISSING = object()


def _default(field: dataclasses.Field[Any]) -> object:
    if field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING:
        return None  # the constructor fills it in
    return _MISSING


def _identity(value: Any) -> Any:
    return value


def _float_out(value: Any) -> Any:
    if value is None or math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _type_codecs(tp: Any) -> tuple[Codec, Codec]:
    """The (encode, decode) pair of one annotated type."""
    if tp is Any or tp is object:
        return _identity, _identity
    if tp is float:
        return _float_out, float
    if tp in (str, int, bool):
        return _identity, tp
    supertype = getattr(tp, "__supertype__", None)
    if supertype is not None:  # a NewType id: its base type's codecs
        return _type_codecs(supertype)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return (lambda v: v.value), tp
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _nested_codecs(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return _optional_codecs(tp, args)
    if origin is Literal:
        return _identity, _literal_decoder(args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            enc, dec = _type_codecs(args[0])
            return (lambda v: [enc(x) for x in v]), (lambda v: tuple(dec(x) for x in v))
        pairs = [_type_codecs(a) for a in args]
        return (
            lambda v: [e(x) for (e, _), x in zip(pairs, v, strict=True)],
            lambda v: tuple(d(x) for (_, d), x in zip(pairs, v, strict=True)),
        )
    if origin in (list, Sequence):
        enc, dec = _type_codecs(args[0])
        return (lambda v: [enc(x) for x in v]), (lambda v: [dec(x) for x in v])
    if origin in (dict, Mapping):
        key_dec = _type_codecs(args[0])[1]
        enc, dec = _type_codecs(args[1])
        if enc is _identity and dec is _identity:
            return dict, dict
        return (
            lambda v: {str(k): enc(x) for k, x in v.items()},
            lambda v: {key_dec(k): dec(x) for k, x in v.items()},
        )
    raise TypeError(f"no JSON form for the annotation {tp!r}")


def _nested_codecs(cls: type) -> tuple[Codec, Codec]:
    """A nested dataclass's codecs, looked up when first used (so a class may nest itself)."""

    def encode(value: Any) -> Any:
        return _codecs(cls)[0](value)

    def decode(value: Any) -> Any:
        return _codecs(cls)[1](value)

    return encode, decode


def _optional_codecs(tp: Any, args: tuple[Any, ...]) -> tuple[Codec, Codec]:
    present = [a for a in args if a is not type(None)]
    if len(present) != 1:
        raise TypeError(f"no JSON form for the union {tp!r} (only 'X | None' is supported)")
    enc, dec = _type_codecs(present[0])
    return (
        lambda v: None if v is None else enc(v),
        lambda v: None if v is None else dec(v),
    )


def _literal_decoder(allowed: tuple[Any, ...]) -> Codec:
    def decode(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(f"expected one of {list(allowed)}")
        return value

    return decode
