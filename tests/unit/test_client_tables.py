"""The browser client's close-code tables agree with docs/protocol.md and the server.

The client (src/dash_ws/static/dash_ws.js) keeps two tables: REFUSED (never
reopen, callbacks use HTTP for good) and DROPPED (reopen with backoff and
resume); any other code closes the socket until a callback needs it. The
"Close codes" table of docs/protocol.md says, in its last column, what the
client does after each code, and ``dash_ws.protocol.CloseCode`` lists the codes
the server closes with. Everything compared here is parsed from those three.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dash_ws.protocol import CloseCode

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "src" / "dash_ws" / "static" / "dash_ws.js"
PROTOCOL = ROOT / "docs" / "protocol.md"

REFUSED, DROPPED, CLOSED = "refused", "dropped", "closed"

# What the client does, as the docs' last column words it, by the table of the
# client that does it (CLOSED: in neither table).
ACTIONS = {
    "uses HTTP": REFUSED,
    "reconnects": DROPPED,
    "stays closed": CLOSED,
}


def client_table(name: str) -> dict[int, str]:
    """The client's ``var <name> = {code: 'label', ...};`` as {code: label}."""
    source = CLIENT.read_text()
    match = re.search(rf"\bvar {name} = \{{(.*?)\}};", source, re.S)
    assert match, f"dash_ws.js defines no `var {name} = {{...}};` table"
    body = match.group(1)
    entry = re.compile(r"(\d+)\s*:\s*'((?:[^'\\]|\\.)*)'")
    left = entry.sub("", body)
    assert re.fullmatch(r"[\s,]*", left), f"{name} holds more than `code: 'label'` entries: {left}"
    codes = [int(code) for code, _ in entry.findall(body)]
    assert len(codes) == len(set(codes)), f"{name} names a code twice"
    return {int(code): label for code, label in entry.findall(body)}


def client_constant(name: str) -> int:
    match = re.search(rf"\bvar {name} = (\d+);", CLIENT.read_text())
    assert match, f"dash_ws.js defines no `var {name} = <code>;`"
    return int(match.group(1))


def parse_codes(cell: str) -> list[int]:
    """``1001, 1005, 1012–1014`` as [1001, 1005, 1012, 1013, 1014]."""
    codes: list[int] = []
    for part in cell.split(","):
        bounds = re.fullmatch(r"\s*(\d+)\s*(?:[–-]\s*(\d+))?\s*", part)
        assert bounds, f"not a close code or a range of them: {part!r}"
        first = int(bounds.group(1))
        last = int(bounds.group(2) or first)
        codes.extend(range(first, last + 1))
    return codes


def section(title: str) -> str:
    text = PROTOCOL.read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"docs/protocol.md has no '## {title}' section"
    return match.group(1)


def docs_close_codes() -> dict[int, dict[str, str]]:
    """The "Close codes" table: {code: {"who": ..., "then": ..., "does": REFUSED/...}}."""
    rows = [line for line in section("Close codes").splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert header[0] == "code" and header[1] == "who", header
    assert header[-1].startswith("the browser client"), header
    table: dict[int, dict[str, str]] = {}
    for row in rows[2:]:
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        assert len(cells) == len(header), f"a row of the Close codes table: {row}"
        then = cells[-1]
        does = [kind for phrase, kind in ACTIONS.items() if then.startswith(phrase)]
        assert len(does) == 1, f"what the client does is not one of {list(ACTIONS)}: {then!r}"
        for code in parse_codes(cells[0]):
            assert code not in table, f"docs/protocol.md lists {code} twice"
            table[code] = {"who": cells[1], "then": then, "does": does[0]}
    assert table, "the Close codes table has no rows"
    return table


def documented(kind: str) -> set[int]:
    return {code for code, row in docs_close_codes().items() if row["does"] == kind}


def client_does(code: int) -> str:
    if code in client_table("REFUSED"):
        return REFUSED
    if code in client_table("DROPPED"):
        return DROPPED
    return CLOSED


def test_the_client_tables_do_not_overlap():
    assert not set(client_table("REFUSED")) & set(client_table("DROPPED"))


def test_the_client_refuses_exactly_the_codes_the_protocol_says():
    assert set(client_table("REFUSED")) == documented(REFUSED)


def test_the_client_resumes_after_exactly_the_codes_the_protocol_says():
    assert set(client_table("DROPPED")) == documented(DROPPED)


def test_the_refusals_named_in_the_prose_are_those_of_the_table():
    sentence = re.search(
        r"A refused page \(([\d, ]+)\)", section("When the socket cannot be opened")
    )
    assert sentence, "'When the socket cannot be opened' no longer names the refusing codes"
    assert set(parse_codes(sentence.group(1))) == set(client_table("REFUSED"))


@pytest.mark.parametrize("code", list(CloseCode), ids=lambda code: f"{code.name}={code.value}")
def test_each_server_close_code_is_documented_and_handled_as_documented(code: CloseCode):
    table = docs_close_codes()
    assert code.value in table, f"CloseCode.{code.name} ({code.value}) is not in docs/protocol.md"
    assert "server" in table[code.value]["who"], table[code.value]
    assert client_does(code.value) == table[code.value]["does"], (
        f"the client treats {code.value} as {client_does(code.value)}, "
        f"the protocol says it {table[code.value]['then']!r}"
    )


def test_the_pages_heartbeat_close_is_documented_as_the_pages_and_resumes():
    code = client_constant("HEARTBEAT_TIMEOUT_CODE")
    row = docs_close_codes().get(code)
    assert row, f"the client closes with {code}, which docs/protocol.md does not list"
    assert row["who"] == "page"
    assert row["does"] == DROPPED == client_does(code)
    assert code not in {member.value for member in CloseCode}, "the server does not use it"


def test_every_documented_code_is_one_the_server_or_the_client_uses_or_the_network_gives():
    server = {member.value for member in CloseCode}
    page = {client_constant("HEARTBEAT_TIMEOUT_CODE")}
    for code, row in docs_close_codes().items():
        if code in server or code in page:
            continue
        assert "network" in row["who"], f"{code}: nobody closes with it ({row['who']!r})"
