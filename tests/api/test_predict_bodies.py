"""Reading ``/predict`` bodies: the rows, the routing key, and the per-row ``timestamps`` and
``ids`` beside them in every body form."""

from __future__ import annotations

from loopml.api.inference import _rows

JAN_5 = 1_704_412_800_000  # 2024-01-05T00:00:00Z


def test_predict_bodies_carry_them_beside_the_rows() -> None:
    record = {"x": 1.0, "y": 2.0}
    body = _rows({"records": [record], "timestamps": [JAN_5], "ids": ["a"], "key": 7})
    assert (body.rows, body.key, body.timestamps, body.ids) == ([record], "7", [JAN_5], ["a"])
    columns = _rows({"columns": ["x", "y"], "data": [[1.0, 2.0]], "ids": [3]})
    assert (columns.rows, columns.timestamps, columns.ids) == ([record], None, [3])
    one = _rows({**record, "timestamps": [JAN_5], "ids": ["a"]}, ("x", "y"))
    assert (one.rows, one.timestamps, one.ids) == (record, [JAN_5], ["a"])
    # a model with a column named 'ids' gets it as a column in the one-record form
    own = _rows({**record, "ids": 5}, ("x", "y", "ids"))
    assert (own.rows, own.ids) == ({**record, "ids": 5}, None)
    assert _rows([record]).ids is None
