"""``ddbpipe local`` without ddbpipe's development tools installed (as from the wheel alone)."""

from __future__ import annotations

import sys

import pytest

from ddbpipe.cli import main


@pytest.mark.parametrize("action", ["up", "down", "status"])
def test_without_the_dev_tools_local_says_in_one_line_how_to_get_them(monkeypatch, capsys,
                                                                      action):
    monkeypatch.setitem(sys.modules, "ddbpipe_dev", None)  # import ddbpipe_dev fails
    assert main(["local", action]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "development tools" in err and "make setup" in err and "pip install -e ./dev" in err
