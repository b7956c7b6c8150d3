"""recloop's simulator: a SimPy world where users react to ranked slates and models retrain on
their own logs."""

from simulator.click_models import (
    CLICK_MODELS,
    CascadeModel,
    ClickModel,
    PositionBasedModel,
    SingleChoiceModel,
    examination_curve,
    expected_clicks,
)
from simulator.drift import DriftDetector, drift_report, population_stability_index
from simulator.log import ImpressionLog
from simulator.metrics import DAILY_METRICS, DayData, gini
from simulator.records import Impressions, Requests, Slates, TrainingData
from simulator.seeding import Streams, stream
from simulator.shifts import (
    Abrupt,
    ConceptDrift,
    CovariateShift,
    Gradual,
    LabelShift,
    Periodic,
)
from simulator.simulation import (
    ServedModel,
    Simulation,
    SimulationConfig,
    SimulationResult,
    simulate,
)
from simulator.world import FeatureView, World, WorldConfig

__all__ = [
    "CLICK_MODELS",
    "DAILY_METRICS",
    "Abrupt",
    "CascadeModel",
    "ClickModel",
    "ConceptDrift",
    "CovariateShift",
    "DayData",
    "DriftDetector",
    "FeatureView",
    "Gradual",
    "ImpressionLog",
    "Impressions",
    "LabelShift",
    "Periodic",
    "PositionBasedModel",
    "Requests",
    "ServedModel",
    "Simulation",
    "SimulationConfig",
    "SimulationResult",
    "SingleChoiceModel",
    "Slates",
    "Streams",
    "TrainingData",
    "World",
    "WorldConfig",
    "drift_report",
    "examination_curve",
    "expected_clicks",
    "gini",
    "population_stability_index",
    "simulate",
    "stream",
]
