"""Sample values, lines and helpers shared by the unit tests of :mod:`ddbpipe.formats`."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from ddbpipe.errors import ExportFormatError

ALL_BYTES = bytes(range(256))

#: One value of every type, with the Data Pipeline JSON each must produce.
EVERY_TYPE = [
    ({"S": "Soldiers Farewell Hill"}, '{"s":"Soldiers Farewell Hill"}'),
    ({"S": ""}, '{"s":""}'),
    ({"S": 'q"uote\\ nl\n tab\t ctl\x02\x03 é 日本 😀'}, None),
    ({"N": "205"}, '{"n":"205"}'),
    ({"N": "-12.50"}, '{"n":"-12.50"}'),
    ({"N": "12345678901234567890123456789012345678"}, None),
    ({"N": "-1.2345678901234567890123456789012345678E+125"}, None),
    ({"N": "1e-130"}, '{"n":"1e-130"}'),
    ({"B": b"\x00\x01\x02"}, '{"b":"AAEC"}'),
    ({"B": ALL_BYTES}, None),
    ({"B": b""}, '{"b":""}'),
    ({"SS": ["a", "b"]}, '{"sS":["a","b"]}'),
    ({"NS": ["1", "2.5", "-3e2"]}, '{"nS":["1","2.5","-3e2"]}'),
    ({"BS": [b"\x00", b"\xff\xfe"]}, '{"bS":["AA==","//4="]}'),
    ({"M": {"k": {"S": "v"}}}, '{"m":{"k":{"s":"v"}}}'),
    ({"M": {}}, '{"m":{}}'),
    ({"L": [{"N": "1"}, {"S": "x"}, {"L": []}]}, '{"l":[{"n":"1"},{"s":"x"},{"l":[]}]}'),
    ({"L": []}, '{"l":[]}'),
    ({"NULL": True}, '{"nULL":true}'),
    ({"BOOL": True}, '{"bOOL":true}'),
    ({"BOOL": False}, '{"bOOL":false}'),
]

DESIGN_LINE = (
    '{"Id":{"n":"205"},"Tags":{"sS":["a","b"]},"Pic":{"b":"AAEC"},"Ok":{"bOOL":false},'
    '"X":{"nULLValue":true},"A":{"m":{"k":{"s":"v"}}}}'
)
DESIGN_ITEM = {
    "Id": {"N": "205"},
    "Tags": {"SS": ["a", "b"]},
    "Pic": {"B": b"\x00\x01\x02"},
    "Ok": {"BOOL": False},
    "X": {"NULL": True},
    "A": {"M": {"k": {"S": "v"}}},
}


def nested(depth: int) -> dict:
    """An attribute value nested ``depth`` containers deep, alternating M and L."""
    value: dict = {"S": "bottom"}
    for level in range(depth):
        value = {"M": {f"level{level}": value}} if level % 2 else {"L": [value, {"N": "1"}]}
    return value


def export_error(call, line: str) -> str:
    with pytest.raises(ExportFormatError) as info:
        call(line)
    return str(info.value)


#: Settings of the round-trip properties of each format.
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
