"""Ordering, coalescing and the memory ceiling of a page's outbox."""

import json

import pytest

from dash_ws import protocol
from dash_ws.outbox import Outbox, OutboxOverflow

A = protocol.encode_component_id("a")
B = protocol.encode_component_id("b")


def sets(outbox: Outbox) -> list:
    return [json.loads(m) for m in outbox.take(10**9)]


def test_messages_leave_in_the_order_they_were_made():
    outbox = Outbox(10**6)
    outbox.put_set(A, {"x": b"1"})
    outbox.put(b'{"type":"result","id":1}')
    outbox.put_set(B, {"x": b"2"})
    assert [m.get("component", m["type"]) for m in sets(outbox)] == ["a", "result", "b"]


def test_a_newer_value_replaces_a_waiting_one_and_moves_to_its_place():
    outbox = Outbox(10**6)
    outbox.put_set(A, {"x": b"1", "y": b"1"})
    outbox.put_set(B, {"x": b"1"})
    outbox.put_set(A, {"x": b"2"})
    assert sets(outbox) == [
        {"type": "set", "component": "a", "props": {"y": 1}},
        {"type": "set", "component": "b", "props": {"x": 1}},
        {"type": "set", "component": "a", "props": {"x": 2}},
    ]


def test_patches_are_never_dropped_but_a_full_value_supersedes_them():
    patch = b'{"__dash_patch_update":"__dash_patch_update","operations":[]}'
    outbox = Outbox(10**6)
    outbox.put_set(A, {"x": b"1"})
    outbox.put_set(A, {"x": patch}, patched=frozenset({"x"}))
    outbox.put_set(A, {"x": patch}, patched=frozenset({"x"}))
    assert len(outbox) == 3
    outbox.put_set(A, {"x": b"9"})
    assert sets(outbox) == [{"type": "set", "component": "a", "props": {"x": 9}}]


def test_pending_bytes_track_what_waits_and_return_to_zero():
    outbox = Outbox(10**6)
    for value in range(100):
        outbox.put_set(A, {"x": str(value).encode()})
    assert len(outbox) == 1
    assert outbox.pending_bytes == len(A) + len("x") + len(b"99")
    outbox.take(10**6)
    assert outbox.pending_bytes == 0


def test_take_stops_near_the_frame_size_but_always_takes_one():
    outbox = Outbox(10**6)
    for index in range(10):
        outbox.put(b"x" * 100 + str(index).encode())
    first = outbox.take(250)
    assert len(first) == 3
    assert len(outbox.take(1)) == 1


def test_overflow_past_the_ceiling_even_after_coalescing():
    outbox = Outbox(1000)
    for _ in range(50):
        outbox.put_set(A, {"x": b"1" * 500})  # coalesced: never overflows
    with pytest.raises(OutboxOverflow, match="limit 1000"):
        for index in range(50):
            outbox.put_set(protocol.encode_component_id(f"c{index}"), {"x": b"1" * 100})


def test_one_message_larger_than_the_ceiling_waits_and_leaves_whole():
    outbox = Outbox(100)
    figure = b"f" * 1000
    outbox.put(b"small")
    outbox.put_set(A, {"figure": figure})
    outbox.put(b"after")
    assert outbox.pending_bytes == len(b"small") + len(b"after"), "the large one is not counted"
    taken = outbox.take(10**9)
    assert taken[0] == b"small" and figure in taken[1] and taken[2] == b"after"
    assert outbox.pending_bytes == 0


def test_a_second_oversized_message_while_one_waits_overflows():
    outbox = Outbox(100)
    outbox.put(b"x" * 1000)
    with pytest.raises(OutboxOverflow):
        outbox.put(b"y" * 1000)


def test_once_the_oversized_message_has_left_another_may_wait():
    outbox = Outbox(100)
    outbox.put(b"x" * 1000)
    assert outbox.take(1) == [b"x" * 1000]
    outbox.put(b"y" * 1000)
    assert outbox.take(1) == [b"y" * 1000]


def test_a_newer_value_of_an_oversized_prop_takes_its_place():
    outbox = Outbox(100)
    outbox.put_set(A, {"figure": b"1" * 1000})
    outbox.put_set(A, {"figure": b"2" * 1000})  # replaces it: still one oversized message
    [message] = outbox.take(10**9)
    assert b"2" * 1000 in message


def test_a_message_that_does_not_fit_beside_the_backlog_waits_outside_it():
    outbox = Outbox(100)
    outbox.put(b"b" * 60)
    outbox.put(b"m" * 70)  # smaller than the ceiling, but not beside what waits
    assert outbox.pending_bytes == 60
    with pytest.raises(OutboxOverflow):
        outbox.put(b"n" * 70)  # a second that does not fit: the page is too far behind
