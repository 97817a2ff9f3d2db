"""Reproducible studies that chain data generation, training and analysis (``glassmm study ...``)."""

from glassmm.studies.temperature import TemperatureStudy, TemperatureStudyConfig

__all__ = ["TemperatureStudy", "TemperatureStudyConfig"]
