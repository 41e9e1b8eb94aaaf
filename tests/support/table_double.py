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
