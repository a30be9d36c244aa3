"""A feed's renderings: encoded once per message, collapsed when several wait together."""

import pytest
from dash import Output, Patch, no_update

from dash_ws.brokers import Cursor
from dash_ws.feeds import Rendered, collapsed, encode_outputs

OUTPUTS = (Output("price", "children"), Output("price", "title"), Output("chart", "figure"))


def rendering(number, values):
    return Rendered(Cursor("e", number), encode_outputs(OUTPUTS, values))


def props(rendered):
    return {m.component: m.props for m in rendered.sets}


def test_outputs_of_one_component_make_one_set_and_no_update_is_left_out():
    [price] = encode_outputs(OUTPUTS[:2], ("1.5", no_update))
    assert price.component == b'"price"' and price.props == {"children": b'"1.5"'}
    assert price.patched == frozenset()


def test_a_patch_is_marked():
    appended = Patch()
    appended.append(1)
    [chart] = encode_outputs(OUTPUTS[2:], appended)
    assert chart.patched == {"figure"}


def test_a_feed_returns_one_value_per_output():
    with pytest.raises(ValueError, match="3 outputs"):
        encode_outputs(OUTPUTS, ("a", "b"))


def test_renderings_waiting_together_collapse_to_each_props_newest_value():
    waiting = [
        rendering(1, ("a", "title a", {"data": []})),
        rendering(2, ("b", no_update, no_update)),
        rendering(3, (no_update, no_update, {"data": [1]})),
    ]
    [only] = collapsed(waiting)
    assert only.cursor == Cursor("e", 3)
    assert props(only) == {
        b'"price"': {"children": b'"b"', "title": b'"title a"'},
        b'"chart"': {"figure": b'{"data":[1]}'},
    }


def test_renderings_with_a_patch_are_all_kept():
    appended = Patch()
    appended.append(1)
    waiting = [rendering(1, ("a", "t", no_update)), rendering(2, ("b", "t", appended))]
    assert collapsed(waiting) == waiting


def test_one_rendering_is_itself():
    one = [rendering(1, ("a", "t", no_update))]
    assert collapsed(one) == one
