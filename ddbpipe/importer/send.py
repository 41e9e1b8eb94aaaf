"""Sending the BatchWriteItem bodies ddbpipe builds (:func:`request_body`) to DynamoDB.

Two senders, one behaviour (what a caller sees: the parsed answer, with UnprocessedItems in the
wire form, or the ``ClientError`` botocore would raise):

* :class:`DirectSender`, the import's: each body is signed with botocore's SigV4 signer (the
  session's credentials, refreshed as botocore refreshes them) and POSTed on a keep-alive
  ``http.client`` connection per thread, TLS verified against botocore's CA bundle. Successful
  answers are read with ``json.loads`` (they come back in the wire form); errors are parsed by
  botocore's JSON parser and raised as the client's own exception classes. The CRC32 DynamoDB
  puts on every answer is checked, as botocore does. This skips the client's per-call machinery
  (event hooks, endpoint rules, header dicts, urllib3, the model-driven parser): ~1 ms of CPU a
  call, 25-40 us an item, more than reading and checking the line.
* :class:`ClientSender`, when a proxy stands between the task and DynamoDB (``HTTPS_PROXY``, or
  ``proxies`` in the client's config) or no credentials object is at hand: the botocore client
  itself, through two event hooks that swap a stand-in for the built body before signing.

:func:`sender_for` picks one. Failures come out as botocore's exceptions
(``EndpointConnectionError``, ``ConnectTimeoutError``, ``ConnectionClosedError``,
``ReadTimeoutError``, ``ChecksumError``), so :func:`ddbpipe.throttle.call_with_retries`
classifies and retries them as it does for every other call.
"""

from __future__ import annotations

import http.client
import json
import platform
import socket
import ssl
import threading
import urllib.request
import zlib
from typing import TYPE_CHECKING, Any, Optional, Protocol, Sequence
from urllib.parse import urlsplit

from ddbpipe import __version__
from ddbpipe.formats.wire import request_to_wire

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: The keyword argument that carries a body built by ddbpipe through the client's call (taken
#: out by the ``before-parameter-build`` hook before botocore looks at the parameters).
BODY_PARAM = "ddbpipeRequestBody"
_HOOK_ID = "ddbpipe-prebuilt-body"
OPERATION = "BatchWriteItem"
TARGET = "DynamoDB_20120810." + OPERATION
JSON_10 = "application/x-amz-json-1.0"


def request_body(table: str, requests: Sequence[dict[str, Any]]) -> bytes:
    """The BatchWriteItem body for wire-form ``requests`` (``PutRequest``/``DeleteRequest``),
    asking for the ConsumedCapacity: what botocore's JSON serializer writes for the same call
    (``json.dumps`` with its defaults, members in this order)."""
    return json.dumps({"RequestItems": {table: requests},
                       "ReturnConsumedCapacity": "TOTAL"}).encode("utf-8")


class Sender(Protocol):
    def post(self, body: bytes) -> dict[str, Any]:
        """Send one BatchWriteItem body; the answer (UnprocessedItems in the wire form)."""

    def close(self) -> None: ...


# --- through the botocore client ----------------------------------------------------------------

def _take_body(params: dict[str, Any], context: dict[str, Any], **_kw: Any) -> None:
    body = params.pop(BODY_PARAM, None)
    if body is not None:
        context[BODY_PARAM] = body


def _put_body(params: dict[str, Any], context: dict[str, Any], **_kw: Any) -> None:
    body = context.pop(BODY_PARAM, None)
    if body is not None:
        params["body"] = body  # signed and sent as it is; Content-Length follows it


def send_prebuilt_bodies(ddb: DynamoDBClient) -> None:
    """Let ``ddb.batch_write_item`` send a body given as ``BODY_PARAM`` (idempotent per client).

    The call's other parameters name the table (for endpoint rules) with one empty request:
    botocore serializes that stand-in, then the ``before-call`` hook swaps in the real body
    before signing. Everything else about the call -- credentials, endpoint, proxies, signing,
    parsing the answer and its errors -- stays botocore's."""
    events = ddb.meta.events
    events.register_first("before-parameter-build.dynamodb.BatchWriteItem", _take_body,
                          unique_id=_HOOK_ID + "-take")
    events.register_first("before-call.dynamodb.BatchWriteItem", _put_body,
                          unique_id=_HOOK_ID + "-put")


class ClientSender:
    """Bodies sent by the botocore client (the stand-in names the table for endpoint rules)."""

    def __init__(self, ddb: DynamoDBClient, table: str) -> None:
        send_prebuilt_bodies(ddb)
        self.ddb, self.table = ddb, table
        self._stand_in: dict[str, Any] = {
            "RequestItems": {table: [{"PutRequest": {"Item": {}}}]},
            "ReturnConsumedCapacity": "TOTAL"}

    def post(self, body: bytes) -> dict[str, Any]:
        resp: dict[str, Any] = dict(
            self.ddb.batch_write_item(**self._stand_in, **{BODY_PARAM: body}))  # type: ignore[arg-type]
        left = (resp.get("UnprocessedItems") or {}).get(self.table)
        if left:  # botocore parsed them (binary as bytes): back to the wire form
            resp["UnprocessedItems"] = {self.table: [request_to_wire(r) for r in left]}
        return resp

    def close(self) -> None:
        pass


# --- straight on the connection -----------------------------------------------------------------

def _user_agent() -> str:
    import botocore

    return (f"ddbpipe/{__version__} botocore/{botocore.__version__} "
            f"Python/{platform.python_version()} md/sender#direct")


class DirectSender:
    """Signed POSTs of built bodies on one keep-alive connection per thread (thread-safe)."""

    def __init__(self, ddb: DynamoDBClient, credentials: Any) -> None:
        from botocore.httpsession import get_cert_path
        from botocore.parsers import create_parser

        self.url = ddb.meta.endpoint_url
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an HTTP(S) endpoint: {self.url}")
        self.https = parts.scheme == "https"
        self.hostname = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        # the Host header SigV4 signs (botocore leaves out a scheme's default port)
        default = 443 if self.https else 80
        self.host = self.hostname if self.port == default else f"{self.hostname}:{self.port}"
        if ":" in self.hostname:  # IPv6 literal
            self.host = f"[{self.hostname}]" + ("" if self.port == default else f":{self.port}")
        self.path = parts.path or "/"
        self.region = ddb.meta.region_name
        self.credentials = credentials
        config: Any = ddb.meta.config  # its settings are set at run time (no stub attributes)
        self.connect_timeout = float(config.connect_timeout or 60)
        self.read_timeout = float(config.read_timeout or 60)
        self._output: Any = ddb.meta.service_model.operation_model(OPERATION).output_shape
        self._parser = create_parser("json")
        self._exceptions = ddb.exceptions
        self._context = ssl.create_default_context(cafile=get_cert_path(True)) \
            if self.https else None
        self._headers = {"Content-Type": JSON_10, "X-Amz-Target": TARGET,
                         "User-Agent": _user_agent()}
        self._local = threading.local()
        self._open: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    # connections -----------------------------------------------------------------------------
    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection and whether it was used before (a fresh one is opened)."""
        import botocore.exceptions as bex

        conn: Optional[http.client.HTTPConnection] = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, True
        if self._context is not None:
            conn = http.client.HTTPSConnection(self.hostname, self.port,
                                               timeout=self.connect_timeout,
                                               context=self._context)
        else:
            conn = http.client.HTTPConnection(self.hostname, self.port,
                                              timeout=self.connect_timeout)
        try:
            conn.connect()
        except (socket.timeout, TimeoutError) as err:
            raise bex.ConnectTimeoutError(endpoint_url=self.url, error=err) from err
        except OSError as err:  # refused, unreachable, name not resolved, TLS refused
            raise bex.EndpointConnectionError(endpoint_url=self.url, error=err) from err
        assert conn.sock is not None
        conn.sock.settimeout(self.read_timeout)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._local.conn = conn
        with self._lock:
            self._open.append(conn)
        return conn, False

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        self._local.conn = None
        conn.close()
        with self._lock:
            if conn in self._open:
                self._open.remove(conn)

    def close(self) -> None:
        with self._lock:
            conns, self._open = self._open, []
        for conn in conns:
            conn.close()

    # one call --------------------------------------------------------------------------------
    def _signed_headers(self, body: bytes) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest("POST", self.url, data=body, headers=dict(self._headers))
        # frozen per call: a refresh never mixes the old key with the new secret
        SigV4Auth(self.credentials.get_frozen_credentials(), "dynamodb",
                  self.region).add_auth(request)
        headers = dict(request.headers.items())
        headers["Host"] = self.host
        return headers

    def _exchange(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        import botocore.exceptions as bex

        headers = self._signed_headers(body)
        while True:
            conn, reused = self._connection()
            try:
                conn.request("POST", self.path, body=body, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except (socket.timeout, TimeoutError) as err:
                self._drop(conn)
                raise bex.ReadTimeoutError(endpoint_url=self.url, error=err) from err
            except (http.client.HTTPException, OSError) as err:
                self._drop(conn)
                if reused and isinstance(err, (http.client.RemoteDisconnected,
                                               BrokenPipeError, ConnectionResetError)):
                    continue  # the server closed an idle keep-alive connection: a new one
                raise bex.ConnectionClosedError(endpoint_url=self.url, error=err) from err
            if response.will_close:
                self._drop(conn)
            return response.status, {k.lower(): v for k, v in response.getheaders()}, raw

    def post(self, body: bytes) -> dict[str, Any]:
        import botocore.exceptions as bex

        status, headers, raw = self._exchange(body)
        crc = headers.get("x-amz-crc32")
        if crc is not None and crc.isdigit() and zlib.crc32(raw) != int(crc):
            raise bex.ChecksumError(checksum_type="crc32", expected_checksum=crc,
                                    actual_checksum=str(zlib.crc32(raw)))
        if status < 300:
            answer: dict[str, Any] = json.loads(raw) if raw.strip() else {}
            answer["ResponseMetadata"] = {"HTTPStatusCode": status, "HTTPHeaders": headers,
                                          "RequestId": headers.get("x-amzn-requestid", "")}
            return answer
        parsed = self._parser.parse({"status_code": status, "headers": headers, "body": raw},
                                    self._output)
        error = parsed.get("Error", {})
        code = error.get("QueryErrorCode") or error.get("Code")
        error_class: Any = self._exceptions.from_code(code)
        raise error_class(parsed, OPERATION)


def proxied(ddb: DynamoDBClient) -> bool:
    """Whether botocore would go through a proxy to reach ``ddb``'s endpoint (the client's
    ``proxies`` setting, or ``HTTP(S)_PROXY`` without a ``NO_PROXY`` match)."""
    config: Any = ddb.meta.config
    if config.proxies:
        return True
    parts = urlsplit(ddb.meta.endpoint_url)
    proxies = urllib.request.getproxies()
    if not proxies.get(parts.scheme) and not proxies.get("all"):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


def sender_for(ddb: DynamoDBClient, table: str, credentials: Any = None) -> Sender:
    """The direct sender for ``ddb``'s endpoint when ``credentials`` (a botocore credentials
    object) are given and no proxy is in the way; otherwise the botocore client."""
    if credentials is None or proxied(ddb):
        return ClientSender(ddb, table)
    return DirectSender(ddb, credentials)
