"""The ddbpipe checkout this package runs from: where ``make setup`` puts ``.cache`` (jars,
dynalite) and what ``ddbpipe emr`` builds the cluster's wheel from. ``DDBPIPE_HOME`` overrides."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """``DDBPIPE_HOME``, else the folder holding this package (the checkout, in a development
    install)."""
    env = os.environ.get("DDBPIPE_HOME")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent
