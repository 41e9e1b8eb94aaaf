"""The memory sampler's sum over a process tree (bench/memory.py)."""

from bench.memory import Sample, tree_memory

MB = 2**20


def test_the_tree_is_summed_by_kind():
    total, kinds = tree_memory([
        Sample(1, 0, 100 * MB, 900 * MB, "driver"),
        Sample(2, 1, 1300 * MB, 4000 * MB, "jvm"),
        Sample(3, 2, 40 * MB, 300 * MB, "partwriter"),
        Sample(4, 2, 45 * MB, 310 * MB, "partwriter"),
    ])
    assert total == 1485 * MB
    assert kinds == {"driver": 100 * MB, "jvm": 1300 * MB, "partwriter": 85 * MB}


def test_a_child_sharing_its_parents_address_space_is_not_counted_twice():
    """Between vfork and exec a child reports its parent's RSS and virtual size."""
    jvm = Sample(2, 1, 1300 * MB, 4000 * MB, "jvm")
    spawning = Sample(5, 2, 1300 * MB, 4000 * MB, "other")
    total, kinds = tree_memory([Sample(1, 0, 100 * MB, 900 * MB, "driver"), jvm, spawning])
    assert total == 1400 * MB
    assert "other" not in kinds


def test_a_child_of_the_same_rss_but_its_own_address_space_counts():
    total, _ = tree_memory([Sample(2, 1, 50 * MB, 400 * MB, "jvm"),
                            Sample(3, 2, 50 * MB, 300 * MB, "partwriter")])
    assert total == 100 * MB
