"""recloop's simulator: a SimPy world where users react to ranked slates and models retrain on
their own logs."""

from simulator.choice_models import CHOICE_MODELS, AttentionArgmax, ChoiceModel
from simulator.click_models import (
    CLICK_MODELS,
    CascadeModel,
    ClickModel,
    PositionBasedModel,
    SingleChoiceModel,
    examination_curve,
    expected_clicks,
)
from simulator.day_data import DayData, MetricSettings
from simulator.detectors import DriftDetector, LoopDiagnosis, detect_degenerate_loop
from simulator.drift import drift_report, population_stability_index
from simulator.homogenization import homogenization, nearest_neighbours, neighbour_jaccard
from simulator.log import ImpressionLog
from simulator.loop_measures import degeneracy, miscalibration
from simulator.metrics import DAILY_METRICS, LOOP_METRICS, gini
from simulator.monitoring import RECORDED_METRICS
from simulator.presets import PRESETS, Chaney2018, ChaneyWorld, preset_world
from simulator.records import Impressions, Requests, Slates, TrainingData
from simulator.seeding import Streams, stream
from simulator.serving import ServedModel
from simulator.shifts import (
    Abrupt,
    ConceptDrift,
    CovariateShift,
    Gradual,
    LabelShift,
    Periodic,
)
from simulator.simulation import (
    Simulation,
    SimulationConfig,
    SimulationResult,
    simulate,
)
from simulator.utility import consumed_utility, known_fraction
from simulator.world import FeatureView, World, WorldConfig

__all__ = [
    "CHOICE_MODELS",
    "CLICK_MODELS",
    "DAILY_METRICS",
    "LOOP_METRICS",
    "PRESETS",
    "RECORDED_METRICS",
    "Abrupt",
    "AttentionArgmax",
    "CascadeModel",
    "Chaney2018",
    "ChaneyWorld",
    "ChoiceModel",
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
    "LoopDiagnosis",
    "MetricSettings",
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
    "consumed_utility",
    "degeneracy",
    "detect_degenerate_loop",
    "drift_report",
    "examination_curve",
    "expected_clicks",
    "gini",
    "homogenization",
    "known_fraction",
    "miscalibration",
    "nearest_neighbours",
    "neighbour_jaccard",
    "population_stability_index",
    "preset_world",
    "simulate",
    "stream",
]
