"""ddbpipe's reader (jvm/, dev.ddbpipe.reader): the export's Scan pages bounded in bytes.

The budget itself is driven through py4j; the whole reader by exports whose buffer is so small
that read workers wait on it all the time, which must neither lose, repeat nor stall an item.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ddbpipe import capacity, export
from ddbpipe.s3uri import S3Uri
from ddbpipe_dev import sample
from tests.functional.test_export import decode_folder, special_items

pytestmark = pytest.mark.functional


def budget(spark: Any, limit: int, min_pages: int) -> Any:
    return spark.sparkContext._jvm.dev.ddbpipe.reader.PageBudget(limit, min_pages)


def acquire_in_thread(b: Any, size: int) -> threading.Event:
    done = threading.Event()

    def run() -> None:
        b.acquire(size)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done


def test_a_page_waits_for_room_and_goes_in_when_the_consumer_frees_it(spark):
    b = budget(spark, 1000, 2)
    b.acquire(600)
    b.acquire(600)  # over the bytes, but the first pages always go in (the consumer waits for them)
    third = acquire_in_thread(b, 100)
    assert not third.wait(1.0), "a third page went past a full budget"
    b.release(600)  # the consumer took a page's last item: 600 + 100 fits
    assert third.wait(30)
    assert (b.heldBytes(), b.peakBytes()) == (700, 1200)
    fourth = acquire_in_thread(b, 900)
    assert not fourth.wait(1.0)
    b.drain()  # the scan is over or the task cancelled: nobody waits for a consumer
    assert fourth.wait(30)


@pytest.mark.parametrize("buffer_bytes, page_bytes", [(64 * 1024, 4096), (16 * 1024, 4096)])
def test_a_tiny_buffer_exports_every_item_once(aws, spark, ddb, s3, bucket, unique, monkeypatch,
                                               buffer_bytes, page_bytes):
    monkeypatch.setattr(capacity, "READ_BUFFER_BYTES", buffer_bytes)
    monkeypatch.setattr(capacity, "READ_PAGE_BYTES", page_bytes)
    name = f"tiny-{buffer_bytes}-{unique}"
    sample.create_table(ddb, name, read=None)
    sample.put_items(ddb, name, iter([*sample.sample_items(3000), *special_items()]))

    (result,) = export.run(spark, export.ExportConfig((name,), S3Uri(bucket), aws,
                                                      read_percent=1.0))

    exported = decode_folder(s3, result.folder)  # refuses an item exported twice
    in_table = {i["pk"]["S"]: i for i in sample.scan_all(ddb, name)}
    assert exported == in_table and result.items == 3004


# --- the export line, written without gson's element tree ------------------------------------

SPECIAL = [
    {"pk": {"S": "html <b>&'=\"</b> \u2028 \u0000\u001f\u007f"}, "e": {"S": ""}},
    {"pk": {"S": "emoji \U0001f600 é 漢字"}, "n": {"N": "99999999999999999999999999999999999999"},
     "neg": {"N": "-0.000000000000000000000000000000000001"}, "exp": {"N": "1E+125"}},
    {"pk": {"B": bytes(range(256))}, "bs": {"BS": [b"", b"\x00", bytes(range(256))]},
     "b": {"B": b""}},
    {"pk": {"S": "sets"}, "ss": {"SS": ["a", "", "\u00e9"]}, "ns": {"NS": ["1", "1.50", "-3"]}},
    {"pk": {"S": "nested"}, "l": {"L": [{"L": []}, {"M": {}}, {"NULL": True},
                                        {"BOOL": False}, {"M": {"k": {"BOOL": True}}}]}},
]


def check_lines(spark: Any, lines: list[str]) -> None:
    jvm = spark.sparkContext._jvm
    for line in lines:
        connector = jvm.org.apache.hadoop.dynamodb.DynamoDBItemWritable()
        connector.readFieldsStream(line)
        ours = jvm.dev.ddbpipe.reader.ItemLineWritable()
        ours.setItem(connector.getItem())
        assert ours.toString() == connector.toString(), line


def test_the_export_line_is_the_connectors_byte_for_byte(spark):
    from ddbpipe.formats import item_to_line

    check_lines(spark, [item_to_line(item) for item in SPECIAL])


def test_the_export_line_is_the_connectors_for_generated_items(spark):
    from hypothesis import given, settings

    from ddbpipe.formats import item_to_line
    from tests.support import strategies

    @settings(max_examples=200, deadline=None, database=None)
    @given(strategies.items(max_depth=3))
    def check(item: Any) -> None:
        check_lines(spark, [item_to_line(item)])

    check()


def test_the_local_jvm_holds_its_whole_heap_from_the_start(spark):
    """The heap the buffers are sized for is committed and touched when the JVM starts, so the
    export's memory does not depend on how far the collector has grown it (-Xms = -Xmx), and
    the young generation is fixed."""
    jvm = spark.sparkContext._jvm
    args = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
    assert "-XX:+AlwaysPreTouch" in args
    assert "-Xmn277m" in args  # local[2], 1g: (1,024 - 2 x 235) / 2, fixed
    xms = [a[len("-Xms"):] for a in args if a.startswith("-Xms")]
    xmx = [a[len("-Xmx"):] for a in args if a.startswith("-Xmx")]
    assert xms and xms[-1] == xmx[-1], args
    runtime = jvm.java.lang.Runtime.getRuntime()
    assert runtime.totalMemory() == runtime.maxMemory()
