"""Numbering, acknowledging and re-sending of sent messages."""

import json

from hypothesis import given
from hypothesis import strategies as st

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


class KeepsByNumber:
    """The rules of the replay buffer, kept the plain way: a dict of held messages."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes, self.held, self.sent, self.oldest_resumable = max_bytes, {}, [], 1

    def number(self, message: bytes) -> None:
        self.sent.append(message)
        self.held[len(self.sent)] = message
        while sum(map(len, self.held.values())) > self.max_bytes and len(self.held) > 1:
            oldest = min(self.held)
            del self.held[oldest]
            self.oldest_resumable = oldest + 1

    def acknowledge(self, number: int) -> None:
        for held in [n for n in self.held if n <= number]:
            del self.held[held]
        self.oldest_resumable = max(self.oldest_resumable, min(number + 1, len(self.sent) + 1))

    def after(self, number: int) -> list[bytes] | None:
        if number + 1 < self.oldest_resumable or number > len(self.sent):
            return None
        return [self.held[n] for n in sorted(self.held) if n > number]


_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.integers(1, 5), st.integers(1, 40)),
        st.tuples(st.just("ack"), st.integers(0, 60)),
        st.tuples(st.just("resume"), st.integers(0, 60)),
    ),
    max_size=80,
)


@given(max_bytes=st.integers(1, 400), steps=_STEPS)
def test_sending_acking_and_resuming_follow_the_plain_rules(max_bytes, steps):
    replay, model = ReplayBuffer(max_bytes), KeepsByNumber(max_bytes)
    for step in steps:
        if step[0] == "send":
            _, count, size = step
            for stamped in replay.number([b'{"x":"' + b"y" * size + b'"}'] * count):
                model.number(stamped)
        elif step[0] == "ack":
            number = min(step[1], len(model.sent))  # a page acks only what it was sent
            replay.acknowledge(number)
            model.acknowledge(number)
        else:
            assert replay.after(step[1]) == model.after(step[1])
        assert replay.next_number == len(model.sent) + 1
        assert replay.held_bytes == sum(map(len, model.held.values()))
