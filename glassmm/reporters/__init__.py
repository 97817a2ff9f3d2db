"""GlassReporter, the OpenMM reporter of live ML estimates and on-the-fly dynamics, and its file.

Rooms: :mod:`reporter` (the reporter: OpenMM protocol, snapshot, worker thread, lifecycle),
:mod:`predict` (the model side of a frame, with the structures its model reads),
:mod:`dynamics` (per-frame series and the multiple-origin table), :mod:`schedule` (when to
report, which reports are time origins), :mod:`schema` (the HDF5 schema and its writer,
defined once), :mod:`reader` (``ReportFile``, ``read_report``) and :mod:`plots`.
"""

from glassmm.reporters.reader import ReportFile, read_report
from glassmm.reporters.reporter import GlassReporter, SimulationBlewUp
from glassmm.reporters.schema import SCHEMA_VERSION

__all__ = ["GlassReporter", "ReportFile", "SCHEMA_VERSION", "SimulationBlewUp", "read_report"]
