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
from simulator.day_data import DayData, MetricSettings
from simulator.detectors import DriftDetector, LoopDiagnosis, detect_degenerate_loop
from simulator.drift import drift_report, population_stability_index
from simulator.log import ImpressionLog
from simulator.metrics import DAILY_METRICS, LOOP_METRICS, gini
from simulator.monitoring import RECORDED_METRICS
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
from simulator.world import FeatureView, World, WorldConfig

__all__ = [
    "CLICK_MODELS",
    "DAILY_METRICS",
    "LOOP_METRICS",
    "RECORDED_METRICS",
    "USER_DYNAMICS_METRICS",
    "Abrupt",
    "AcquisitionConfig",
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
    "churned_users",
    "detect_degenerate_loop",
    "drift_report",
    "examination_curve",
    "expected_clicks",
    "gini",
    "long_term_value",
    "population_stability_index",
    "retention",
    "sessions_per_active_user",
    "simulate",
    "stream",
    "user_dynamics_daily",
]
