"""Topic histories without I/O: what a cursor missed, counts, ages, and choosing a broker."""

import asyncio
import logging

import pytest

from dash_ws import brokers
from dash_ws.brokers import Cursor, MemoryBroker, TopicEntry, TopicHistory, catchup_from, url_of
from dash_ws.redis_broker import _shown
from dash_ws.workers import warn_if_unshared


def entries(epoch, numbers):
    return [TopicEntry("t", epoch, n, b"0", 0.0) for n in numbers]


def test_a_cursor_inside_the_history_gets_what_follows_it():
    caught = catchup_from(entries("e", [3, 4, 5]), Cursor("e", 3), "e", 5)
    assert [e.number for e in caught.entries] == [4, 5] and not caught.gap


def test_a_cursor_at_the_head_misses_nothing():
    caught = catchup_from(entries("e", [3, 4, 5]), Cursor("e", 5), "e", 5)
    assert caught.entries == [] and not caught.gap


def test_a_cursor_older_than_the_history_is_a_gap():
    caught = catchup_from(entries("e", [3, 4, 5]), Cursor("e", 1), "e", 5)
    assert [e.number for e in caught.entries] == [3, 4, 5] and caught.gap


def test_a_cursor_of_another_epoch_is_a_gap():
    caught = catchup_from(entries("new", [1, 2]), Cursor("old", 7), "new", 2)
    assert [e.number for e in caught.entries] == [1, 2] and caught.gap


def test_a_cursor_ahead_of_the_topic_is_a_gap():
    assert catchup_from([], Cursor("e", 9), "e", 3).gap


def test_a_cursor_past_everything_held_when_all_expired_is_a_gap():
    assert catchup_from([], Cursor("e", 2), "e", 5).gap


def test_a_cursor_that_saw_nothing_follows_anything():
    caught = catchup_from(entries("e", [1]), Cursor(), "e", 1)
    assert caught.entries == [] and not caught.gap


async def test_the_memory_history_keeps_its_count():
    broker = MemoryBroker(TopicHistory(count=2))
    for n in range(5):
        await broker.publish("t", str(n).encode())
    head = await broker.head("t")
    assert head.number == 5
    caught = await broker.read_after("t", Cursor(head.epoch, 2))
    assert [e.data for e in caught.entries] == [b"3", b"4"] and caught.gap


async def test_the_memory_history_forgets_by_age_and_an_idle_topic_starts_a_new_epoch(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(brokers.time, "time", lambda: now[0])
    broker = MemoryBroker(TopicHistory(count=10, seconds=60))
    await broker.publish("t", b"1")
    now[0] += 30
    second = await broker.publish("t", b"2")
    now[0] += 45  # the first is 75 s old, the second 45 s
    caught = await broker.read_after("t", Cursor(second.epoch, 0 + 1))
    assert [e.data for e in caught.entries] == [b"2"] and not caught.gap
    assert (await broker.read_after("t", Cursor(second.epoch, 0))).entries == []
    now[0] += 60  # everything is past its age: the topic starts over
    third = await broker.publish("t", b"3")
    assert third.number == 1 and third.epoch != second.epoch
    assert (await broker.read_after("t", second)).gap


async def test_memory_listeners_on_another_loop_are_called_there():
    broker = MemoryBroker()
    got: list[int] = []
    arrived = asyncio.Event()

    def listener(entry):
        got.append(entry.number)
        arrived.set()

    broker.listen("t", listener, after=await broker.head("t"))
    await asyncio.to_thread(broker.publish_blocking, "t", b"1")
    await asyncio.wait_for(arrived.wait(), 10)
    assert got == [1]
    broker.unlisten("t", listener)


async def test_a_memory_listener_gets_what_came_after_its_cursor_then_what_comes_next():
    broker = MemoryBroker()
    first = await broker.publish("t", b"1")
    for n in (2, 3):
        await broker.publish("t", str(n).encode())
    got: list[int] = []
    four = asyncio.Event()

    def listener(entry):
        got.append(entry.number)
        if entry.number == 4:
            four.set()

    broker.listen("t", listener, after=first)
    await broker.publish("t", b"4")
    await asyncio.wait_for(four.wait(), 10)
    assert got == [2, 3, 4]


def test_a_history_keeps_something():
    with pytest.raises(ValueError):
        TopicHistory(count=0)
    with pytest.raises(ValueError):
        TopicHistory(seconds=0)


def test_the_broker_setting_takes_a_url_or_dash_shared_storage(monkeypatch):
    monkeypatch.delenv(brokers.BROKER_ENVIRONMENT, raising=False)
    assert url_of(None) == "memory://"
    assert url_of("redis://h:1/0") == "redis://h:1/0"
    monkeypatch.setenv(brokers.BROKER_ENVIRONMENT, "redis://env:2/0")
    assert url_of(None) == "redis://env:2/0"

    class RedisSharedStorage:  # what Dash 4.5's keeps: the URL it was given
        _url = "redis://shared:3/0"

    assert url_of(RedisSharedStorage()) == "redis://shared:3/0"
    with pytest.raises(TypeError, match="websocket_broker"):
        url_of(object())


def test_passwords_stay_out_of_messages():
    assert _shown("redis://:secret@h:1/0") == "redis://***@h:1/0"
    assert _shown("redis://user:secret@h:1/0") == "redis://user:***@h:1/0"
    assert _shown("redis://h:1/0") == "redis://h:1/0"


def test_several_workers_without_a_shared_broker_are_warned_once(monkeypatch, caplog):
    monkeypatch.setenv("SERVER_SOFTWARE", "gunicorn/23.0.0")
    with caplog.at_level(logging.WARNING, logger="dash_ws"):
        warn_if_unshared(MemoryBroker())
    assert len(caplog.records) == 1 and "sticky routing" in caplog.records[0].getMessage()


def test_one_process_is_not_warned(monkeypatch, caplog):
    monkeypatch.delenv("SERVER_SOFTWARE", raising=False)
    with caplog.at_level(logging.WARNING, logger="dash_ws"):
        warn_if_unshared(MemoryBroker())
    assert caplog.records == []
