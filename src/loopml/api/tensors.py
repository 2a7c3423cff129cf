"""Tensors of the Open Inference Protocol on the wire: datatypes, and the binary data
extension's encoding (raw little-endian values; ``BYTES`` as a 4-byte little-endian length
before each element's bytes).

A column of the served model is a one-dimensional tensor (shape ``[rows]``, or ``[rows, 1]``);
:func:`decode` turns a tensor's bytes into one Python value per row and :func:`encode` turns
an output's values back into bytes. Errors name the tensor, the problem and the fix.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from loopml.core.errors import InvalidArgumentError

#: Fixed-size datatypes and their little-endian NumPy types.
FIXED: dict[str, str] = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
#: Every datatype this server reads and writes (``BF16`` is not one: no NumPy type).
DATATYPES: tuple[str, ...] = (*FIXED, "BYTES")
#: The datatype of an input column's values, by its Arrow type (anything else: ``BYTES``).
ARROW_DATATYPES: dict[str, str] = {
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "halffloat": "FP16",
    "float": "FP32",
    "double": "FP64",
    "bool": "BOOL",
}
#: The NumPy type a fixed-size tensor is widened to for the model (as JSON numbers would be):
#: integers to int64, floats to float64; UINT64 stays Python ints (it may not fit int64).
_WIDE: dict[str, str] = {
    **{t: "<i8" for t in ("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32")},
    **{t: "<f8" for t in ("FP16", "FP32", "FP64")},
    "BOOL": "?",
}
_LENGTH = struct.Struct("<I")


def check_datatype(datatype: object, *, name: str) -> str:
    """``datatype`` if this server knows it.

    Raises:
        InvalidArgumentError: Another datatype (the message lists the known ones).
    """
    if datatype not in DATATYPES:
        raise InvalidArgumentError(
            f"The input {name!r} has the datatype {datatype!r}, which this server does not "
            f"read; use one of {', '.join(DATATYPES)}."
        )
    return str(datatype)


def decode(raw: bytes, datatype: str, *, name: str) -> list[Any] | np.ndarray:
    """The values of one tensor sent as binary data: an int64, float64 or bool array (a
    column the model reads without a copy per value; UINT64 as Python ints), or text
    (``BYTES`` elements decoded as UTF-8).

    Raises:
        InvalidArgumentError: The bytes do not divide into whole elements of ``datatype``, a
            ``BYTES`` length prefix runs past the end, or an element is not UTF-8 text.
    """
    if datatype == "BYTES":
        return _decode_bytes(raw, name=name)
    dtype = np.dtype(FIXED[check_datatype(datatype, name=name)])
    if len(raw) % dtype.itemsize:
        raise InvalidArgumentError(
            f"The binary data of the input {name!r} is {len(raw)} bytes, not a whole number "
            f"of {datatype} elements ({dtype.itemsize} bytes each): check its binary_data_size."
        )
    array = np.frombuffer(raw, dtype=dtype)
    wide = _WIDE.get(datatype)
    if wide is None:
        values: list[Any] = array.tolist()
        return values
    return array.astype(wide)


def _decode_bytes(raw: bytes, *, name: str) -> list[Any]:
    values: list[Any] = []
    at = 0
    while at < len(raw):
        if at + _LENGTH.size > len(raw):
            raise InvalidArgumentError(
                f"The BYTES input {name!r} ends inside an element's 4-byte length at byte "
                f"{at}: each element is a little-endian uint32 length, then that many bytes."
            )
        (size,) = _LENGTH.unpack_from(raw, at)
        at += _LENGTH.size
        if at + size > len(raw):
            raise InvalidArgumentError(
                f"The BYTES input {name!r} declares an element of {size} bytes at byte "
                f"{at - _LENGTH.size}, past the end of its {len(raw)} bytes: check each "
                "element's 4-byte length and the input's binary_data_size."
            )
        try:
            values.append(raw[at : at + size].decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InvalidArgumentError(
                f"Element {len(values)} of the BYTES input {name!r} is not UTF-8 text "
                f"({exc.reason} at byte {exc.start}): the model's columns take text, so send "
                "UTF-8 encoded strings."
            ) from None
        at += size
    return values


def datatype_of(values: Sequence[Any]) -> str:
    """The datatype of an output: ``BOOL``, ``INT64``, ``FP64``, or ``BYTES`` (text)."""
    if values and all(isinstance(v, bool) for v in values):
        return "BOOL"
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "INT64"
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "FP64"
    return "BYTES" if values else "FP64"


def encode(values: Sequence[Any], datatype: str) -> bytes:
    """The binary data of an output's ``values`` (row-major) as ``datatype``."""
    if datatype == "BYTES":
        parts: list[bytes] = []
        for value in values:
            text = value if isinstance(value, str) else str(value)
            data = text.encode("utf-8")
            parts.append(_LENGTH.pack(len(data)))
            parts.append(data)
        return b"".join(parts)
    return np.asarray(values, dtype=FIXED[datatype]).tobytes()
