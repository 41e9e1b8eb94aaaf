"""The SQS dead-letter queue of ddbpipe's schedules: where a launch that failed is kept.

EventBridge Scheduler retries a failed RunJobFlow as its RetryPolicy says, then puts the event,
with the error EMR returned, on the schedule's dead-letter queue: a standard queue (FIFO queues
are not supported) that the schedule's execution role may ``sqs:SendMessage`` to. ddbpipe uses
``--dlq-arn`` when given (it must exist), otherwise its own queue :data:`QUEUE_NAME`, created on
first use with the longest retention SQS allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, TextIO

from ddbpipe.aws import error_code
from ddbpipe.cluster.policies import DLQ_NAME, partition
from ddbpipe.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

QUEUE_NAME = DLQ_NAME
RETENTION_SECONDS = 14 * 24 * 3600  # SQS's maximum
#: DeadLetterConfig.Arn as CloudFormation documents it (aws, aws-cn, aws-us-gov, ...).
_ARN = re.compile(r"^arn:(aws(?:-[a-z]+)*):sqs:([a-z0-9\-]+):(\d{12}):([a-zA-Z0-9\-_.]+)$")
_MISSING = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


@dataclass(frozen=True)
class QueueArn:
    partition: str
    region: str
    account: str
    name: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:sqs:{self.region}:{self.account}:{self.name}"


def parse_arn(arn: str, region: str) -> QueueArn:
    """``--dlq-arn`` checked as the scheduler will: a standard queue in the run's partition."""
    m = _ARN.match(arn.strip())
    if not m:
        raise ConfigError(f"--dlq-arn {arn!r} is not an SQS queue ARN.",
                          "Give one like arn:aws:sqs:eu-west-1:123456789012:my-dlq "
                          "(aws sqs get-queue-attributes --attribute-names QueueArn).")
    queue = QueueArn(*m.groups())
    if queue.name.endswith(".fifo") or "." in queue.name:
        raise ConfigError(f"--dlq-arn {arn} is a FIFO queue; EventBridge Scheduler delivers "
                          "dead letters to standard queues only.",
                          f"Give a standard queue, or leave --dlq-arn out to use {QUEUE_NAME}.")
    if queue.partition != partition(region):
        raise ConfigError(f"--dlq-arn {arn} is in partition {queue.partition}, the schedule in "
                          f"{partition(region)} ({region}).",
                          "Give a queue of the schedule's own partition.")
    return queue


def default_arn(region: str, account: str) -> QueueArn:
    return QueueArn(partition(region), region, account, QUEUE_NAME)


def check_exists(sqs: SQSClient, queue: QueueArn) -> None:
    """Refuse a ``--dlq-arn`` that names no queue; skip quietly when SQS may not be read."""
    import botocore.exceptions

    try:
        sqs.get_queue_url(QueueName=queue.name, QueueOwnerAWSAccountId=queue.account)
    except botocore.exceptions.ClientError as err:
        if error_code(err) in _MISSING:
            raise ConfigError(f"The dead-letter queue {queue} does not exist.",
                              f"Create it (aws sqs create-queue --queue-name {queue.name} "
                              f"--region {queue.region}) or leave --dlq-arn out to use "
                              f"{QUEUE_NAME}.") from err
        if "AccessDenied" not in error_code(err):
            raise


def ensure_queue(sqs: SQSClient, out: Optional[TextIO] = None) -> str:
    """ddbpipe's own dead-letter queue, created when absent; returns its ARN."""
    import botocore.exceptions

    try:
        url = sqs.get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]
        created = False
    except botocore.exceptions.ClientError as err:
        if error_code(err) not in _MISSING:
            raise
        url = sqs.create_queue(
            QueueName=QUEUE_NAME, tags={"created-by": "ddbpipe"},
            Attributes={"MessageRetentionPeriod": str(RETENTION_SECONDS),
                        "SqsManagedSseEnabled": "true"})["QueueUrl"]
        created = True
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"]
    if out is not None:
        print(f"dead-letter queue {arn}: {'created' if created else 'exists'}", file=out)
    return str(arn)
