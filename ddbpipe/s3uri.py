"""``s3://bucket/prefix`` URIs, validated once at the edge."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ddbpipe.errors import ConfigError

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class S3Uri:
    """A bucket and a key (or prefix) without leading or trailing slashes."""

    bucket: str
    key: str = ""

    @classmethod
    def parse(cls, uri: str, what: str = "S3 URI") -> S3Uri:
        text = uri.strip()
        m = re.match(r"^(s3a?|s3n)://([^/]*)/?(.*)$", text)
        if not m:
            raise ConfigError(
                f"{what} {uri!r} is not an S3 URI.",
                "Write it as s3://BUCKET or s3://BUCKET/PREFIX.",
            )
        bucket, key = m.group(2), m.group(3)
        if not _BUCKET.match(bucket) or ".." in bucket:
            raise ConfigError(
                f"{what} {uri!r} names an invalid bucket {bucket!r}.",
                "Bucket names are 3-63 lower-case letters, digits, dots and hyphens.",
            )
        key = re.sub(r"/{2,}", "/", key).strip("/")
        return cls(bucket, key)

    def join(self, *parts: str) -> S3Uri:
        pieces = [self.key, *(p.strip("/") for p in parts)]
        return S3Uri(self.bucket, "/".join(p for p in pieces if p))

    @property
    def prefix(self) -> str:
        """The key as a folder prefix: ``key/`` (or empty at the bucket root)."""
        return f"{self.key}/" if self.key else ""

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"
