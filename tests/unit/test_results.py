"""The typed results that cross process boundaries: commit messages, write stats."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from ddbpipe.errors import BucketError
from ddbpipe.export.messages import FileCommit, read_commits
from ddbpipe.failures import record
from ddbpipe.importer import WriteStats
from ddbpipe.importer.tasks import GroupWritten, is_group_written, is_key
from ddbpipe.throttle import RetryStats


def test_file_commit_round_trip_keeps_the_json_line():
    commit = FileCommit("s3://b/p/f", 3, 30, 20, 12)
    assert commit.to_json() == ('{"url": "s3://b/p/f", "items": 3, "bytes": 30, '
                                '"stored_bytes": 20, "item_bytes": 12}')
    assert FileCommit.from_json(commit.to_json()) == commit


def test_read_commits_sorts_and_raises_a_writer_failure():
    b, a = FileCommit("s3://b/p/b", 1, 1, 1, 1), FileCommit("s3://b/p/a", 2, 2, 2, 2)
    assert read_commits([b.to_json(), "", a.to_json()]) == [a, b]
    with pytest.raises(BucketError, match="gone"):
        read_commits([a.to_json(), record(BucketError("gone", "fix"))])


def test_write_stats_add_and_pickle():
    one = WriteStats(2, 1, 3.0, 1, RetryStats(1, 2, 3))
    total = sum([one, one], WriteStats())
    assert total == WriteStats(4, 2, 6.0, 2, RetryStats(2, 4, 6))
    assert total.throttled == 2
    group = GroupWritten(5, 1, 0.5, one)
    assert pickle.loads(pickle.dumps(group)) == group
    assert is_group_written(group) and not is_key(group) and is_key(("S", "k"))


def test_partition_writer_module_runs_without_runpy_warning():
    proc = subprocess.run([sys.executable, "-W", "error", "-m", "ddbpipe.export.partwriter"],
                          capture_output=True, text=True, env={"PATH": ""}, check=False)
    assert proc.returncode == 2
    assert proc.stderr == "ddbpipe partition writer: DDBPIPE_WRITER is not set\n"
