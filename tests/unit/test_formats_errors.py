"""ddbpipe.formats: the readers' error contract, shared by all three formats. Pure, no servers.

A reader fails only with :class:`~ddbpipe.errors.ExportFormatError`, which pickles (it crosses
from Spark executors to the driver) and takes the file and line with ``with_context``.
"""

from __future__ import annotations

import contextlib
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ddbpipe.errors import DdbpipeError, ExportFormatError
from ddbpipe.formats import (
    ion_line_to_item,
    item_to_line,
    line_to_item,
    native_line_to_item,
    with_context,
)
from tests.support.strategies import item_to_ion_line, item_to_native_line, items


def test_errors_are_export_format_errors_that_pickle_and_take_context() -> None:
    with pytest.raises(ExportFormatError) as info:
        line_to_item('{"a":{"n":"x"}}')
    err = info.value
    assert isinstance(err, DdbpipeError)
    copy = pickle.loads(pickle.dumps(err))
    assert str(copy) == str(err)
    located = with_context(err, "s3://bucket/export/0f3c line 7")
    assert isinstance(located, ExportFormatError)
    assert str(located).startswith("s3://bucket/export/0f3c line 7: attribute 'a': 'x' is not")
    assert located.fix == err.fix


@st.composite
def damaged_lines(draw: st.DrawFn) -> str:
    """A valid line of one of the formats with a slice cut out or a character swapped in."""
    item = draw(items(max_depth=2, max_size=4))
    line = draw(
        st.sampled_from([item_to_line(item), item_to_native_line(item), item_to_ion_line(item)])
    )
    start = draw(st.integers(0, len(line)))
    end = draw(st.integers(start, min(len(line), start + 5)))
    return line[:start] + draw(st.sampled_from(["", "x", "}", '"', "\\", "\x02", "0"])) + line[end:]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=50), damaged_lines()))
def test_readers_fail_only_with_export_format_error(line: str) -> None:
    for reader in (line_to_item, native_line_to_item, ion_line_to_item):
        with contextlib.suppress(ExportFormatError):
            reader(line)
