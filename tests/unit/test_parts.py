"""Joining a message sent in parts, within the page's limit and the process's budget."""

import json

import pytest

from dash_ws.errors import RefusedMessage
from dash_ws.parts import PART_CHARS, PartJoiner, split_into_parts
from dash_ws.protocol import Part, parse_inbound

ROOM = 10**9


def parts_of(text: str, size: int) -> list[Part]:
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    return [Part(piece, more=i < len(pieces) - 1) for i, piece in enumerate(pieces)]


def test_parts_join_into_the_message_once_the_last_is_in():
    joiner = PartJoiner(max_bytes=10_000)
    message = json.dumps({"type": "call", "id": 3, "body": "x" * 1000})
    *first, last = parts_of(message, 100)
    assert [joiner.add(part, ROOM, ROOM) for part in first] == [None] * len(first)
    assert joiner.held_bytes == sum(len(part.data) for part in first)
    assert joiner.add(last, ROOM, ROOM) == message
    assert joiner.held_bytes == 0


def test_past_the_limit_the_call_is_refused_413_and_its_other_parts_are_let_go():
    joiner = PartJoiner(max_bytes=500)
    big = parts_of(json.dumps({"type": "call", "id": 7, "body": "x" * 1000}), 100)
    refused = []
    for part in big:
        try:
            assert joiner.add(part, ROOM, ROOM) is None
        except RefusedMessage as error:
            refused.append((error.status, error.call_id))
    assert refused == [(413, 7)]
    assert joiner.held_bytes == 0
    small = json.dumps({"type": "ping"})
    assert joiner.add(Part(small, more=False), ROOM, ROOM) == small, "the next message is read"


def test_past_the_process_budget_the_call_is_refused_503():
    joiner = PartJoiner(max_bytes=10_000)
    first, *_ = parts_of(json.dumps({"type": "call", "id": 9, "body": "x" * 1000}), 100)
    with pytest.raises(RefusedMessage) as refused:
        joiner.add(first, page_room=ROOM, process_room=50)
    assert (refused.value.status, refused.value.call_id) == (503, 9)


def test_parts_of_something_other_than_a_call_are_refused_without_an_id():
    joiner = PartJoiner(max_bytes=150)
    parts = parts_of(json.dumps({"type": "ping", "pad": "x" * 1000}), 100)
    joiner.add(parts[0], ROOM, ROOM)
    with pytest.raises(RefusedMessage) as refused:
        joiner.add(parts[1], ROOM, ROOM)
    assert refused.value.call_id is None


def test_past_the_pages_budget_the_call_is_refused_413():
    joiner = PartJoiner(max_bytes=10_000)
    first, *_ = parts_of(json.dumps({"type": "call", "id": 4, "body": "x" * 1000}), 100)
    with pytest.raises(RefusedMessage) as refused:
        joiner.add(first, page_room=50, process_room=ROOM)
    assert (refused.value.status, refused.value.call_id) == (413, 4)
    assert "websocket_page_call_bytes" in str(refused.value)


def test_what_a_client_splits_the_joiner_joins_back():
    message = json.dumps(
        {"type": "call", "id": 5, "body": "é" * (PART_CHARS + 10)}, ensure_ascii=False
    )
    frames = split_into_parts(message)
    assert len(frames) == 2
    joiner = PartJoiner(max_bytes=10 * PART_CHARS)
    parts = [parse_inbound(frame, 10 * PART_CHARS) for frame in frames]
    assert [joiner.add(part, ROOM, ROOM) for part in parts] == [None, message]
    assert split_into_parts('{"type":"ping"}') == ['{"type":"ping"}']
