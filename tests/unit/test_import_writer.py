"""The import's lean write path: the bodies ddbpipe builds from export lines are byte for byte
what botocore's serializer writes for the same items, they reach the wire as built and signed,
and DynamoDB's answers (unprocessed items, throttling, errors) are handled as botocore's."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any, Callable, ClassVar, Iterator, Union

import boto3
import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.serialize import create_serializer
from hypothesis import given

from ddbpipe import failures, formats
from ddbpipe.errors import JobFailed
from ddbpipe.importer.send import ClientSender, DirectSender, request_body, sender_for
from ddbpipe.importer.writer import BatchWriter
from ddbpipe.throttle import Patience
from tests.support.format_samples import ALL_BYTES, EVERY_TYPE, PROPERTY, nested
from tests.support.strategies import item_to_ion_line, item_to_native_line, items
from tests.support.table_double import Answer, HttpTableDouble, TableDouble

_CLIENT = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                region_name="us-east-1").client("dynamodb")
_MODEL = _CLIENT.meta.service_model.operation_model("BatchWriteItem")
_SERIALIZER = create_serializer("json", include_validation=True)


def botocore_body(table: str, requests: list[dict[str, Any]]) -> bytes:
    """What botocore sends for ``batch_write_item`` of ``requests`` (items with bytes)."""
    params = {"RequestItems": {table: requests}, "ReturnConsumedCapacity": "TOTAL"}
    return bytes(_SERIALIZER.serialize_to_request(params, _MODEL)["body"])


def puts(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"PutRequest": {"Item": i}} for i in items]


#: Values beyond EVERY_TYPE: numbers at the limits, nesting, binary inside containers.
MORE_VALUES = [
    {"N": "99999999999999999999999999999999999999"},
    {"N": "-0.00000000000000000000000000000000000001"},
    {"N": "9.9999999999999999999999999999999999999E+125"},
    {"N": "1E-130"},
    {"NS": ["12345678901234567890123456789012345678", "-1.5e-3", "0"]},
    {"BS": [ALL_BYTES, b"\xff"]},
    {"M": {"bin": {"B": ALL_BYTES}, "set": {"BS": [b"\x01"]}, "empty": {"M": {}},
           "list": {"L": [{"L": []}, {"M": {}}, {"NULL": True}, {"B": b""}]}}},
    nested(12),
    {"S": "\u2028\ud7ff\ue000\U0010ffff \x7f\x00"},
]


@pytest.mark.parametrize("value", [v for v, _line in EVERY_TYPE] + MORE_VALUES)
def test_the_body_built_from_a_line_is_botocores_for_the_same_item(value: dict) -> None:
    item = {"pk": {"S": "k1"}, "v": value}
    for null_key in formats.NULL_KEYS:
        line = formats.item_to_line(item, null_key=null_key)
        wire = formats.line_to_wire(line)
        assert request_body("T", puts([wire])) == botocore_body("T", puts([item]))
        assert formats.item_size(wire) == formats.item_size(item)


def test_a_full_batch_of_every_type_and_deletes_is_botocores() -> None:
    values = [v for v, _line in EVERY_TYPE] + MORE_VALUES
    batch = [{"pk": {"B": bytes([i]) * (i + 1)}, "v": v} for i, v in enumerate(values)][:23]
    wire = [formats.line_to_wire(formats.item_to_line(i)) for i in batch]
    keys = [{"pk": {"B": ALL_BYTES}}, {"pk": {"B": b"\x00"}}]
    ours = puts(wire) + [{"DeleteRequest": {"Key": formats.item_to_wire(k)}} for k in keys]
    theirs = puts(batch) + [{"DeleteRequest": {"Key": k}} for k in keys]
    assert len(ours) == 25
    assert request_body("Orders-2026.x_y", ours) == botocore_body("Orders-2026.x_y", theirs)


def test_lines_the_codec_reads_loosely_are_sent_as_it_reads_them() -> None:
    # a bare JSON number, type keys in any case, Hive-era lines, a byte-order mark
    for line in ('{"pk":{"s":"a"},"n":{"n":12.50},"ns":{"nS":[1,"2"]}}',
                 '{"pk":{"S":"a"},"b":{"B":"AAEC"},"x":{"NULL":true},"m":{"M":{"l":{"L":[]}}}}',
                 'pk\x03{"s":"a"}\x02b\x03{"bS":["AA==","AQ=="]}\x02ok\x03{"bOOL":true}',
                 '\ufeff{"pk":{"s":"a"}}\r\n'):
        assert request_body("T", puts([formats.line_to_wire(line)])) == \
            botocore_body("T", puts([formats.line_to_item(line)]))


@PROPERTY
@given(items(key_schema={"pk": "B", "sk": "N"}))
def test_every_line_format_gives_botocores_body(item: dict) -> None:
    names = ["pk", "sk"]
    for to_line, wire_reader, item_reader in (
            (formats.item_to_line, formats.line_to_wire, formats.line_to_item),
            (item_to_native_line, formats.native_line_to_wire, formats.native_line_to_item),
            (item_to_ion_line, formats.ion_line_to_wire, formats.ion_line_to_item)):
        line = to_line(item)
        wire, decoded = wire_reader(line), item_reader(line)
        assert request_body("T", puts([wire])) == botocore_body("T", puts([decoded]))
        assert formats.item_size(wire) == formats.item_size(decoded)
        assert formats.key_of(wire, names) == formats.key_of(decoded, names)


def test_the_key_checker_reads_wire_binary_as_its_bytes() -> None:
    check = formats.make_key_checker([{"AttributeName": "pk", "KeyType": "HASH"}],
                                     [{"AttributeName": "pk", "AttributeType": "B"}])
    assert check(formats.line_to_wire('{"pk":{"b":"AAEC"}}')) is None
    assert check(formats.line_to_wire('{"pk":{"b":""}}')) == "partition key attribute 'pk' is " \
                                                              "empty binary"
    big = formats.item_to_line({"pk": {"B": b"x" * 2049}})
    assert check(formats.line_to_wire(big)) == "partition key attribute 'pk' is 2049 bytes, " \
                                                "DynamoDB allows 2048"


def test_wire_readers_refuse_what_the_item_readers_refuse() -> None:
    from ddbpipe.errors import ExportFormatError

    for bad in ('{"pk":{"b":"AAE"}}', '{"pk":{"b":"AAF="}}', '{"pk":{"bS":["AA==","AA=="]}}',
                '{"pk":{"n":"1e200"}}', '{"pk":{"sS":[]}}', "", '{"pk":{"q":1}}'):
        with pytest.raises(ExportFormatError) as want:
            formats.line_to_item(bad)
        with pytest.raises(ExportFormatError) as got:
            formats.line_to_wire(bad)
        assert str(got.value) == str(want.value)


# --- through a client ----------------------------------------------------------------------------

Double = Union[TableDouble, HttpTableDouble]


@pytest.fixture(params=["client", "direct"])
def make_table(request: pytest.FixtureRequest) -> Iterator[Callable[[Answer], Double]]:
    """A table double answering ``answer``: through botocore's client, or over HTTP to the
    writer's direct sender. Every test below holds for both senders."""
    made: list[Double] = []

    def make(answer: Answer) -> Double:
        table: Double = TableDouble(answer) if request.param == "client" \
            else HttpTableDouble(answer)
        made.append(table)
        return table

    yield make
    for table in made:
        table.close()


def _writer(table: Double, threads: int = 2) -> BatchWriter:
    writer = BatchWriter(table.client, "T", None, ["pk"], Patience("table T", 5.0), threads,
                         table.credentials)
    expected = ClientSender if isinstance(table, TableDouble) else DirectSender
    assert isinstance(writer.sender, expected)
    return writer


def _ok(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    n = len(request["RequestItems"]["T"])
    return 200, {"ConsumedCapacity": [{"TableName": "T", "CapacityUnits": float(n)}]}


def test_the_body_botocore_sends_is_the_one_built(make_table: Callable[[Answer], Double]) -> None:
    table = make_table(_ok)
    lines = [formats.item_to_line({"pk": {"S": f"k{i}"}, "b": {"B": ALL_BYTES}}) for i in range(30)]
    writer = _writer(table, threads=1)
    for line in lines:
        writer.put(formats.line_to_wire(line))
    stats = writer.close()
    wire = [formats.line_to_wire(x) for x in lines]
    assert table.bodies == [request_body("T", puts(wire[:25])), request_body("T", puts(wire[25:]))]
    assert stats.written == 30 and stats.consumed == 30.0


def test_unprocessed_items_go_again_byte_for_byte(make_table: Callable[[Answer], Double]) -> None:
    calls: list[dict[str, Any]] = []

    def hold_the_binary(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        calls.append(request)
        requests = request["RequestItems"]["T"]
        held = [r for r in requests if "b" in r["PutRequest"]["Item"]] if len(calls) == 1 else []
        return 200, {"UnprocessedItems": {"T": held} if held else {},
                     "ConsumedCapacity": [{"TableName": "T",
                                           "CapacityUnits": len(requests) - len(held)}]}

    table = make_table(hold_the_binary)
    writer = _writer(table, threads=1)
    writer.put({"pk": {"S": "a"}})
    writer.put(formats.line_to_wire('{"pk":{"s":"b"},"b":{"bS":["AA==","//4="]},"m":{"m":{}}}'))
    stats = writer.close()
    assert len(calls) == 2 and stats.unprocessed_retries == 1 and stats.written == 2
    assert calls[1]["RequestItems"]["T"] == calls[0]["RequestItems"]["T"][1:]
    assert stats.consumed == 2.0


def test_throttling_is_retried_and_counted(make_table: Callable[[Answer], Double]) -> None:
    answers = iter([(400, {"__type": "com.amazonaws.dynamodb.v20120810#"
                                     "ProvisionedThroughputExceededException",
                           "message": "slow down"})])

    def throttle_once(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return next(answers, None) or _ok(request)

    table = make_table(throttle_once)
    writer = _writer(table)
    writer.put({"pk": {"S": "a"}})
    stats = writer.close()
    assert stats.retry.throttled == 1 and stats.written == 1 and len(table.bodies) == 2


@pytest.mark.parametrize("code,message,kind", [
    ("ValidationException", "One or more parameter values were invalid", JobFailed),
    ("ResourceNotFoundException", "Requested resource not found", JobFailed),
])
def test_dynamodbs_errors_surface_as_botocores(code: str, message: str, kind: type,
                                                make_table: Callable[[Answer], Double]) -> None:
    table = make_table(lambda _r: (400, {"__type": f"com.amazonaws.dynamodb.v20120810#{code}",
                                          "message": message}))
    writer = _writer(table)
    writer.put({"pk": {"S": "a"}})
    with pytest.raises(botocore.exceptions.ClientError) as info:
        writer.close()
    err = info.value
    assert err.operation_name == "BatchWriteItem"
    assert err.response["Error"] == {"Code": code, "Message": message}
    explained = failures.explain(err, "table T", "writing")
    assert isinstance(explained, kind)
    assert explained.what == f"BatchWriteItem on table T failed ({code})."


class _Capture(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Capture.seen.append((dict(self.headers.items()), body))
        answer = json.dumps({"ConsumedCapacity": [{"TableName": "T", "CapacityUnits": 1.0}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.mark.parametrize("direct", [False, True], ids=["client", "direct"])
def test_the_body_on_the_wire_is_signed_by_botocores_signer(direct: bool) -> None:
    _Capture.seen.clear()
    server = http.server.HTTPServer(("127.0.0.1", 0), _Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        ddb = boto3.session.Session(aws_access_key_id="AKIDTEST", aws_secret_access_key="s3cret",
                                    region_name="eu-west-1").client("dynamodb", endpoint_url=url)
        creds = Credentials("AKIDTEST", "s3cret") if direct else None
        writer = BatchWriter(ddb, "T", None, ["pk"], Patience("table T", 5.0), 1, creds)
        assert isinstance(writer.sender, DirectSender if direct else ClientSender)
        wire = formats.line_to_wire('{"pk":{"b":"AAEC"},"x":{"nULLValue":true}}')
        writer.put(wire)
        assert writer.close().consumed == 1.0
    finally:
        server.shutdown()
    ((headers, body),) = _Capture.seen
    assert body == request_body("T", puts([wire]))
    assert headers["X-Amz-Target"] == "DynamoDB_20120810.BatchWriteItem"
    assert headers["Content-Type"] == "application/x-amz-json-1.0"
    # the signature the server checks is over this very body
    auth = headers["Authorization"]
    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    request = AWSRequest("POST", url + "/", data=body,
                         headers={k: v for k, v in headers.items() if k.lower() in signed})
    request.context["timestamp"] = headers["X-Amz-Date"]
    signer = SigV4Auth(Credentials("AKIDTEST", "s3cret"), "dynamodb", "eu-west-1")
    signature = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)),
                                 request)
    assert auth.endswith(f"Signature={signature}")


# --- the direct sender's own cases ----------------------------------------------------------------

def test_a_damaged_answer_is_retried_as_botocore_retries_it() -> None:
    table = HttpTableDouble(_ok)
    try:
        table.corrupt = 2  # the CRC32 of the first two answers does not match their bytes
        writer = _writer(table, threads=1)
        writer.put({"pk": {"S": "a"}})
        stats = writer.close()
    finally:
        table.close()
    assert len(table.bodies) == 3 and stats.retry.transient == 2 and stats.written == 1


def test_a_server_error_is_retried() -> None:
    answers = iter([(500, {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                           "message": "oops"})])
    table = HttpTableDouble(lambda r: next(answers, None) or _ok(r))
    try:
        writer = _writer(table, threads=1)
        writer.put({"pk": {"S": "a"}})
        stats = writer.close()
    finally:
        table.close()
    assert stats.retry.transient == 1 and stats.written == 1


def test_a_keep_alive_connection_the_server_dropped_is_replaced_without_a_retry() -> None:
    table = HttpTableDouble(_ok)
    try:
        table.drop_idle = True  # every answer's connection closed behind the client's back
        writer = _writer(table, threads=1)
        for i in range(60):
            writer.put({"pk": {"S": f"k{i}"}})
        stats = writer.close()
    finally:
        table.close()
    assert stats.written == 60 and stats.retry.retries == 0
    assert len(table.bodies) == 3 and len(table.connections) == 3


def test_one_connection_per_thread_is_kept_alive() -> None:
    table = HttpTableDouble(_ok)
    try:
        writer = _writer(table, threads=1)
        for i in range(100):
            writer.put({"pk": {"S": f"k{i}"}})
        writer.close()
    finally:
        table.close()
    assert len(table.bodies) == 4 and len(table.connections) == 1
    assert table.headers[0]["User-Agent"].startswith("ddbpipe/")


def test_nothing_listening_is_botocores_endpoint_connection_error() -> None:
    table = HttpTableDouble(_ok)
    table.close()  # the port is free again: nothing answers there
    sender = DirectSender(table.client, table.credentials)
    with pytest.raises(botocore.exceptions.EndpointConnectionError) as info:
        sender.post(request_body("T", puts([{"pk": {"S": "a"}}])))
    assert table.url in str(info.value)


def test_errors_are_the_clients_own_exception_classes() -> None:
    table = HttpTableDouble(lambda _r: (400, {
        "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
        "message": "Requested resource not found"}))
    try:
        sender = DirectSender(table.client, table.credentials)
        with pytest.raises(table.client.exceptions.ResourceNotFoundException) as info:
            sender.post(request_body("T", puts([{"pk": {"S": "a"}}])))
    finally:
        table.close()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_proxy_in_the_way_sends_through_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy",
                 "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    creds = Credentials("AKIDTEST", "s3cret")
    aws = boto3.session.Session(aws_access_key_id="AKIDTEST", aws_secret_access_key="s3cret",
                                region_name="eu-west-1")
    ddb = aws.client("dynamodb")  # https://dynamodb.eu-west-1.amazonaws.com
    assert isinstance(sender_for(ddb, "T", creds), DirectSender)
    assert isinstance(sender_for(ddb, "T", None), ClientSender)  # nothing to sign with
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert isinstance(sender_for(ddb, "T", creds), ClientSender)
    monkeypatch.setenv("NO_PROXY", ".amazonaws.com")
    assert isinstance(sender_for(ddb, "T", creds), DirectSender)
    configured = aws.client("dynamodb", config=boto3.session.Config(
        proxies={"https": "http://proxy.internal:3128"}))
    assert isinstance(sender_for(configured, "T", creds), ClientSender)


# --- a short line is an item of one write unit ---------------------------------------------------

#: Items where DynamoDB's size comes closest to the line's length: one-letter names, empty
#: lists and maps nested (3 bytes each plus 1 per element), single digits, empty binary.
TIGHT = [
    {"a": {"L": [{"L": []}] * 40}},
    {"a": {"M": {chr(97 + i): {"M": {}} for i in range(26)}}},
    {"a": {"L": [{"NULL": True}, {"BOOL": False}, {"N": "0"}, {"B": b""}, {"S": ""}] * 8}},
    {"a": {"NS": [str(i) for i in range(100)]}, "b": {"BS": [bytes([i]) for i in range(50)]}},
    {"\u00e9": {"S": "\U0001f600" * 30}, "\ud7ff": {"SS": ["\u2028", "\x00"]}},
]


@pytest.mark.parametrize("item", TIGHT)
def test_json_lines_are_never_shorter_than_their_items_size(item: dict) -> None:
    from ddbpipe.importer.sources import SIZE_BOUNDED_BY_LINE

    assert {"datapipeline", "native-json", "native-json-changes"} == set(SIZE_BOUNDED_BY_LINE)
    for to_line in (formats.item_to_line, item_to_native_line):
        assert len(to_line(item).encode("utf-8")) >= formats.item_size(item)
    # ION is not bounded: an empty list is 2 bytes there, 3 to DynamoDB
    assert len(item_to_ion_line({"a": {"L": [{"L": []}] * 40}}).encode()) < \
        formats.item_size({"a": {"L": [{"L": []}] * 40}})


@PROPERTY
@given(items(key_schema={"pk": "S"}))
def test_generated_json_lines_bound_their_items_size(item: dict) -> None:
    size = formats.item_size(item)
    for null_key in formats.NULL_KEYS:
        assert len(formats.item_to_line(item, null_key=null_key).encode("utf-8")) >= size
    assert len(item_to_native_line(item).encode("utf-8")) >= size
    assert len(item_to_native_line(item, ascii_only=True).encode("utf-8")) >= size
