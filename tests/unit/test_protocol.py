"""The wire protocol, without a socket."""

import json

import numpy as np
import pytest
from dash import Patch, html

from dash_ws import protocol
from dash_ws.errors import ProtocolError

LIMIT = 1024
CALL = '{"type":"call","id":1,"body":"{\\"output\\":\\"a.b\\"}"'
"""A valid call frame but for its closing brace, for the bad-frame cases to finish."""


def test_a_calls_output_is_read_from_its_body_not_from_beside_it():
    frame = json.dumps(
        {"type": "call", "id": 1, "output": "sync.children", "body": '{"output":"async.children"}'}
    )
    assert protocol.parse_inbound(frame, LIMIT).output == "async.children"


def test_call_is_parsed_with_body_headers_and_query():
    frame = json.dumps(
        {
            "type": "call",
            "id": 7,
            "output": "a.children",
            "body": '{"output":"a.children","inputs":["é"]}',
            "headers": {"X-A": "1"},
            "query": "endId=x",
        }
    )
    message = protocol.parse_inbound(frame, LIMIT)
    assert message == protocol.Call(
        7,
        "a.children",
        '{"output":"a.children","inputs":["é"]}'.encode(),
        {"X-A": "1"},
        "endId=x",
    )


def test_join_starts_or_resumes_a_session():
    assert protocol.parse_inbound('{"type":"join"}', LIMIT) == protocol.Join()
    resume = '{"type":"join","session":"s1","secret":"k","seen":4}'
    assert protocol.parse_inbound(resume, LIMIT) == protocol.Join("s1", "k", 4)
    assert protocol.Join("s1", "k", 4).resumes and not protocol.Join().resumes


def test_prop_reply_ready_and_ping_are_parsed():
    assert protocol.parse_inbound('{"type":"prop","id":3,"found":true,"value":[1]}', LIMIT) == (
        protocol.PropReply(3, True, [1])
    )
    assert protocol.parse_inbound('{"type":"ready"}', LIMIT) == protocol.Ready()
    assert protocol.parse_inbound(b'{"type":"ping"}', LIMIT) == protocol.Ping()


@pytest.mark.parametrize(
    "frame, complaint",
    [
        ("{not json", "malformed JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"type":"launch"}', "unknown message type 'launch'"),
        ('{"type":["call"]}', "unknown message type"),
        ('{"type":"call","id":1}', "'body' string"),
        ('{"type":"call","id":1,"output":"a.b","body":{"output":"a.b"}}', "'body' string"),
        ('{"type":"call","id":1,"body":"{\\"output\\":5}"}', "'output' string"),
        ('{"type":"call","id":1,"body":"[1]"}', "'output' string"),
        ('{"type":"call","id":1,"body":"{nope"}', "body is malformed JSON"),
        (
            '{"type":"call","id":"1","output":"a.b","body":"{\\"output\\":\\"a.b\\"}"}',
            "positive integer 'id'",
        ),
        (
            '{"type":"call","id":true,"output":"a.b","body":"{\\"output\\":\\"a.b\\"}"}',
            "positive integer 'id'",
        ),
        (
            '{"type":"call","id":0,"output":"a.b","body":"{\\"output\\":\\"a.b\\"}"}',
            "positive integer 'id'",
        ),
        (
            '{"type":"call","id":9007199254740993,"output":"a.b","body":"{\\"output\\":\\"a.b\\"}"}',
            "'id'",
        ),
        (
            CALL + ',"headers":{"a":1}}',
            "headers",
        ),
        (
            CALL + ',"query":5}',
            "query",
        ),
        (
            CALL + ',"query":{}}',
            "query",
        ),
        (
            CALL + ',"headers":[]}',
            "headers",
        ),
        (
            CALL + ',"query":5}',
            "query",
        ),
        (
            CALL + ',"query":"a=\u2603"}',
            "ASCII",
        ),
        (
            CALL + ',"query":"a b"}',
            "ASCII",
        ),
        (
            CALL + ',"headers":{"a b":"1"}}',
            "header",
        ),
        (
            CALL + ',"headers":{"a":"\u2603"}}',
            "Latin-1",
        ),
        (
            CALL + ',"headers":{"a":"x\\r\\nb: 1"}}',
            "Latin",
        ),
        ('{"type":"call","id":1,"output":"a.b","body":"\\udcff"}', "malformed JSON"),
        ('{"type":"prop","found":true}', "positive integer 'id'"),
        ('{"type":"prop","id":1,"found":"yes"}', "boolean 'found'"),
        ('{"type":"ack","n":-1}', "non-negative integer 'n'"),
        ('{"type":"join","session":"s"}', "'session' and 'secret'"),
        ('{"type":"join","session":"s","secret":"k","seen":"2"}', "integer 'seen'"),
        ('{"type":"join","session":"s","secret":"k","seen":1e3}', "integer 'seen'"),
    ],
)
def test_bad_frames_are_refused_with_a_reason(frame, complaint):
    with pytest.raises(ProtocolError, match=complaint):
        protocol.parse_inbound(frame, LIMIT)


def test_oversized_frame_is_refused_before_parsing():
    with pytest.raises(ProtocolError, match="exceeds the limit of 1024 bytes"):
        protocol.parse_inbound('{"type":"ping","pad":"' + "x" * LIMIT + '"}', LIMIT)


def test_deep_nesting_is_refused_as_malformed():
    nested = '{"type":"prop","id":1,"found":true,"value":' + "[" * 2000 + "]" * 2000 + "}"
    with pytest.raises(ProtocolError, match="malformed JSON"):
        protocol.parse_inbound(nested, 10 * LIMIT)


def test_the_size_limit_counts_bytes_not_characters():
    emoji = '{"type":"ping","pad":"' + "\U0001f600" * 300 + '"}'
    assert len(emoji) < LIMIT < len(emoji.encode())
    with pytest.raises(ProtocolError, match=f"{len(emoji.encode())} bytes exceeds"):
        protocol.parse_inbound(emoji, LIMIT)


@pytest.mark.parametrize("reason", ["x" * 500, "é" * 200, "\U0001f600" * 100, "short"])
def test_close_reasons_fit_a_close_frame(reason):
    cut = protocol.close_reason(reason)
    assert len(cut.encode()) <= 123
    assert reason.startswith(cut.removesuffix("...")) and cut.encode().decode() == cut


def test_values_are_encoded_as_dash_encodes_outputs():
    from dash._utils import to_json

    figure = {"data": [{"z": np.arange(4).reshape(2, 2)}], "layout": {}}
    assert protocol.encode_value(figure) == to_json(figure).encode()
    assert json.loads(protocol.encode_value(html.Div("x", id="d")))["type"] == "Div"
    patch = Patch()
    patch["a"] = 1
    assert json.loads(protocol.encode_value(patch))["__dash_patch_update"] == "__dash_patch_update"


def test_server_messages_are_valid_json_in_one_frame():
    component = protocol.encode_component_id({"type": "card", "index": 2})
    messages = [
        protocol.set_message(component, {"children": b'"hi"', "style": b'{"color":"red"}'}),
        protocol.get_message(4, protocol.encode_component_id("name"), "value"),
        protocol.result_message(1, 200, "application/json", b'{"multi":true}'),
        protocol.error_message("bad"),
        protocol.PONG,
    ]
    decoded = json.loads(protocol.frame(messages))
    assert decoded[0] == {
        "type": "set",
        "component": {"index": 2, "type": "card"},
        "props": {"children": "hi", "style": {"color": "red"}},
    }
    assert decoded[1] == {"type": "get", "id": 4, "component": "name", "prop": "value"}
    assert decoded[2]["body"] == '{"multi":true}'
    assert [m["type"] for m in decoded] == ["set", "get", "result", "error", "pong"]
