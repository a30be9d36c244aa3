"""Prop values are encoded exactly as Dash encodes callback outputs."""

import datetime
import math

import numpy as np
import pytest
from dash import Patch, html
from plotly.io.json import to_json_plotly

from dash_ws import protocol


def patch():
    changed = Patch()
    changed.append(1)
    return changed


VALUES = [
    "plain",
    "</script><b>&amp;</b> a/b \u2028 \u2029 é 😀",
    "",
    0,
    -5,
    2**62,
    True,
    None,
    0.1,
    1e300,
    -0.0,
    float("nan"),
    math.inf,
    [1, "x", None, [2.5, {"k": "<v>"}]],
    {"a": 1, "b": {"c": [1, 2]}, 3: "non-str key"},
    np.array([1.5, 2.5]),
    np.arange(6).reshape(2, 3),
    datetime.datetime(2026, 11, 30, 12, 0, 1),
    datetime.date(2026, 11, 30),
    html.Div("component", id="x"),
    {"figure": {"data": [{"x": np.array([1, 2])}]}, "child": html.Span("s")},
    patch(),
]


@pytest.mark.parametrize("value", VALUES, ids=[repr(v)[:30] for v in VALUES])
def test_a_value_is_encoded_as_dash_encodes_it(value):
    assert protocol.encode_value(value) == to_json_plotly(value).encode()
