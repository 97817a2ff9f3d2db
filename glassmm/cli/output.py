"""What the command line prints: strict JSON (numpy scalars and arrays, paths)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def print_json(obj: Any) -> None:
    """Print one JSON object on one line (the last line of --json output)."""
    print(json.dumps(obj, default=json_default))


def json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x)}")
