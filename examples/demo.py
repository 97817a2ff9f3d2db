"""`make demo`: the main job on an embedded default.

Melts and quenches a 1000-particle Kob-Andersen liquid to T = 0.8 on the CPU, runs
production MD with a trajectory, and reports the measured state. Later stages (the
GlassReporter with a bundled model) hook in here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from glassmm.workflows import simulate


def main() -> int:
    out = Path("demo-output")
    summary = simulate(
        temperature=0.8,
        output=out / "ka-T0.8",
        n_particles=1000,
        equilibration_time=10.0,
        production_time=20.0,
        report_every=1.0,
        platform="CPU",
        seed=1,
    )
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
