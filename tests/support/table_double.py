"""A real botocore DynamoDB client whose BatchWriteItem calls never leave the process.

The client is boto3's own (credentials, endpoint, serializer, signer, event hooks); a
``before-call`` handler registered after ddbpipe's takes the request body as it would be sent,
hands its JSON to ``answer`` and lets botocore's parser read the answer (or raises the error a
status >= 300 carries, as botocore does). What a test sees is the wire: the body bytes exactly.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable

import boto3
from botocore.awsrequest import AWSResponse
from botocore.parsers import create_parser

#: ``answer(request JSON) -> (HTTP status, response JSON)``
Answer = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


class TableDouble:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()
        self.client = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1",
        ).client("dynamodb", endpoint_url="http://127.0.0.1:9",
                 config=boto3.session.Config(retries={"total_max_attempts": 1}))
        self._parser = create_parser("json")
        self.client.meta.events.register("before-call.dynamodb.BatchWriteItem", self._call)

    def _call(self, model: Any, params: dict[str, Any], **_kw: Any) -> tuple[Any, Any]:
        body = params["body"]
        with self.lock:
            self.bodies.append(body)
        status, answer = self.answer(json.loads(body))
        raw = json.dumps(answer).encode()
        headers = {"content-type": "application/x-amz-json-1.0"}
        parsed = self._parser.parse({"status_code": status, "headers": headers, "body": raw},
                                    model.output_shape)
        return AWSResponse(params["url"], status, headers, None), parsed

    #: no credentials: a BatchWriter given this table's client sends through botocore's client
    credentials: Any = None

    def close(self) -> None:
        pass


class HttpTableDouble:
    """The same answers from an HTTP server on 127.0.0.1 (HTTP/1.1, keep-alive), for the
    writer's direct sender: what it reads is what it would read from DynamoDB, the CRC32 header
    included. ``corrupt`` damages the checksum of the next N answers; ``drop_idle`` closes each
    connection after answering without saying so (as a server closes an idle keep-alive
    connection)."""

    def __init__(self, answer: Answer) -> None:
        import http.server
        import zlib

        from botocore.credentials import Credentials

        self.answer = answer
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.connections: set[tuple[str, int]] = set()
        self.lock = threading.Lock()
        self.corrupt = 0
        self.drop_idle = False
        double = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with double.lock:
                    double.bodies.append(body)
                    double.headers.append(dict(self.headers.items()))
                    double.connections.add(self.client_address)
                    corrupt = double.corrupt > 0
                    double.corrupt -= corrupt
                status, answer = double.answer(json.loads(body))
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("x-amzn-RequestId", "REQ1")
                self.send_header("x-amz-crc32", str(zlib.crc32(raw) + corrupt))
                self.end_headers()
                self.wfile.write(raw)
                if double.drop_idle:
                    self.close_connection = True

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.credentials = Credentials("AKIDTEST", "s3cret")
        self.client = boto3.session.Session(
            aws_access_key_id="AKIDTEST", aws_secret_access_key="s3cret",
            region_name="eu-west-1",
        ).client("dynamodb", endpoint_url=self.url,
                 config=boto3.session.Config(retries={"total_max_attempts": 1},
                                             connect_timeout=2, read_timeout=5))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
