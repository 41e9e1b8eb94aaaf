"""EMR's refusals as ddbpipe errors that name the cause and the fix, chosen by error code.

:func:`explain_emr_error` is the table from botocore ``ClientError`` codes to
:class:`~ddbpipe.errors.DdbpipeError` subclasses; :func:`emr_call` applies it around a call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

from ddbpipe.aws import error_code
from ddbpipe.cluster import definition as d
from ddbpipe.errors import (
    ConfigError,
    DdbpipeError,
    EndpointUnreachable,
    PermissionDenied,
    QuotaExceeded,
)

#: botocore error codes (EMR, IAM, S3, STS) by what they mean for a run.
ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                           "UnauthorizedException", "Forbidden", "403"})
BAD_CREDENTIALS = frozenset({"UnrecognizedClientException", "InvalidClientTokenId",
                             "ExpiredToken", "ExpiredTokenException", "InvalidSignatureException",
                             "SignatureDoesNotMatch", "InvalidAccessKeyId"})
QUOTA = frozenset({"LimitExceeded", "LimitExceededException", "ServiceQuotaExceededException",
                   "InstanceLimitExceeded", "VcpuLimitExceeded", "TooManyClusters"})
INVALID = frozenset({"ValidationException", "InvalidRequestException"})
NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})  # S3 GetObject/HeadObject


def _message(err: BaseException) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Message", "")).strip()


def has_pipeline_tag(request: dict[str, Any]) -> bool:
    return {"Key": d.TAG_KEY, "Value": d.TAG_VALUE} in request.get("Tags", [])


def explain_emr_error(err: BaseException, operation: str, request: Optional[dict[str, Any]] = None
                      ) -> Optional[DdbpipeError]:
    """A ddbpipe error naming the cause and the fix, chosen by the botocore error code."""
    code, message = error_code(err), _message(err)
    detail = f" ({code}: {message})" if message else f" ({code})"
    if code in ACCESS_DENIED:
        if operation == "RunJobFlow" and request is not None and not has_pipeline_tag(request):
            return PermissionDenied(
                f"EMR refused RunJobFlow{detail}: the request has no {d.TAG_KEY}={d.TAG_VALUE} "
                "tag, and the documented policy only lets tagged clusters through.",
                f"Add the tag {d.TAG_KEY}={d.TAG_VALUE} to the request (ddbpipe's own requests "
                "always carry it).",
            )
        roles = ""
        if request is not None and "ServiceRole" in request:
            roles = f" and iam:PassRole on {request['ServiceRole']} and {request['JobFlowRole']}"
        return PermissionDenied(
            f"EMR refused {operation}{detail}.",
            f"The request carries the tag {d.TAG_KEY}={d.TAG_VALUE}, so a policy that demands it "
            f"is met; the caller also needs elasticmapreduce:{operation}{roles}. "
            "`ddbpipe iam policy --table T --bucket B` prints a policy that grants them.",
        )
    if code in BAD_CREDENTIALS:
        return PermissionDenied(f"AWS did not accept the credentials{detail}.",
                                "Check AWS_PROFILE or the keys (`aws sts get-caller-identity`).")
    if code in QUOTA:
        return QuotaExceeded(
            f"{operation} hit an account quota{detail}.",
            "Terminate clusters you no longer need (`aws emr list-clusters --active`) or ask for "
            "a higher quota in Service Quotas (Amazon EMR; EC2 Running On-Demand Standard "
            "instances).",
        )
    if code in INVALID:
        return ConfigError(
            f"EMR rejected {operation}{detail}.",
            "If it names a role or instance profile, create them with `ddbpipe iam setup`; with "
            "EMR_DefaultRole_V2 the subnet (--subnet-id) and security groups must carry the tag "
            "for-use-with-amazon-emr-managed-policies=true; check --release-label and "
            "--instance-type against the message.",
        )
    return None


@contextmanager
def emr_call(operation: str, request: Optional[dict[str, Any]] = None) -> Iterator[None]:
    """Around EMR calls: known refusals become ddbpipe errors, the rest propagate unchanged."""
    import botocore.exceptions

    try:
        yield
    except botocore.exceptions.ClientError as err:
        mapped = explain_emr_error(err, operation, request)
        if mapped is None:
            raise
        raise mapped from err
    except botocore.exceptions.EndpointConnectionError as err:
        raise EndpointUnreachable(f"Cannot reach EMR ({err}).",
                                  "Fix --endpoint-url / AWS_ENDPOINT_URL_EMR.") from err
