"""Numbering, acknowledging and re-sending of sent messages."""

import json

from dash_ws import protocol
from dash_ws.errors import ProtocolError
from dash_ws.replay import ReplayBuffer


def numbers(messages: list[bytes]) -> list[int]:
    return [json.loads(message)["n"] for message in messages]


def test_messages_are_numbered_in_order_across_frames():
    replay = ReplayBuffer(10**6)
    first = replay.number([b'{"type":"set"}', b'{"type":"result","id":1}'])
    second = replay.number([b'{"type":"get","id":1}'])
    assert numbers(first) == [1, 2] and numbers(second) == [3]
    assert json.loads(first[1]) == {"n": 2, "type": "result", "id": 1}


def test_a_page_gets_again_what_it_had_not_seen():
    replay = ReplayBuffer(10**6)
    replay.number([b'{"type":"set"}'] * 5)
    assert numbers(replay.after(2)) == [3, 4, 5]
    assert replay.after(5) == []


def test_acknowledged_messages_are_let_go():
    replay = ReplayBuffer(10**6)
    replay.number([b'{"type":"set"}'] * 5)
    replay.acknowledge(3)
    assert numbers(replay.after(3)) == [4, 5]
    assert replay.held_bytes == sum(len(m) for m in replay.after(3))
    assert replay.after(1) is None, "what was acknowledged cannot be asked for again"


def test_past_its_bound_the_oldest_are_forgotten_and_cannot_be_resumed_from():
    replay = ReplayBuffer(100)
    replay.number([b'{"type":"set","pad":"' + b"x" * 30 + b'"}'] * 10)
    assert replay.held_bytes <= 100
    assert replay.after(0) is None
    kept = replay.after(replay.next_number - 2)
    assert numbers(kept) == [replay.next_number - 1]


def test_a_page_claiming_more_than_was_sent_cannot_resume():
    replay = ReplayBuffer(10**6)
    replay.number([b'{"type":"set"}'] * 2)
    assert replay.after(7) is None


def test_acks_are_parsed_and_checked():
    assert protocol.parse_inbound('{"type":"ack","n":12}', 1024) == protocol.Ack(12)
    for bad in ('{"type":"ack"}', '{"type":"ack","n":-1}', '{"type":"ack","n":"3"}'):
        try:
            protocol.parse_inbound(bad, 1024)
        except ProtocolError as error:
            assert "non-negative integer 'n'" in str(error)
        else:
            raise AssertionError(f"{bad} was accepted")


def test_the_newest_message_is_kept_however_large():
    buffer = ReplayBuffer(max_bytes=100)
    buffer.number([b'{"type":"set","n":1}'])
    buffer.number([b'{"type":"set","big":"' + b"x" * 1000 + b'"}'])
    [kept] = buffer.after(1)
    assert b"x" * 1000 in kept
    assert buffer.after(0) is None, "the older one made room"
