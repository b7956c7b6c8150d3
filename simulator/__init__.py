"""recloop's simulator: a SimPy world where users react to ranked slates and models retrain on
their own logs.
"""

from simulator.calibration import Calibration, CalibrationConfig, calibrate, calibrate_world
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
from simulator.retention_metrics import (
    USER_DYNAMICS_METRICS,
    active_users,
    churned_users,
    long_term_value,
    retention,
    sessions_per_active_user,
    user_dynamics_daily,
)
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
from simulator.user_dynamics import (
    AcquisitionConfig,
    PerceptionConfig,
    RetentionConfig,
    SatiationConfig,
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
    "USER_DYNAMICS_METRICS",
    "Abrupt",
    "AcquisitionConfig",
    "AttentionArgmax",
    "Calibration",
    "CalibrationConfig",
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
    "PerceptionConfig",
    "Periodic",
    "PositionBasedModel",
    "Requests",
    "RetentionConfig",
    "SatiationConfig",
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
    "active_users",
    "calibrate",
    "calibrate_world",
    "churned_users",
    "consumed_utility",
    "degeneracy",
    "detect_degenerate_loop",
    "drift_report",
    "examination_curve",
    "expected_clicks",
    "gini",
    "homogenization",
    "known_fraction",
    "long_term_value",
    "miscalibration",
    "nearest_neighbours",
    "neighbour_jaccard",
    "population_stability_index",
    "preset_world",
    "retention",
    "sessions_per_active_user",
    "simulate",
    "stream",
    "user_dynamics_daily",
]
