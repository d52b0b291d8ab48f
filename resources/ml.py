"""The model pipeline's settings, one typed resource shared by the ``ml`` assets.

Defaults make the local stack work with no settings: 1-minute bars, next-bar target, a
5-day window with the last day held out. Each field can be set per run in the launchpad
(resources config) or per deployment in definitions.py."""


from typing import TYPE_CHECKING

from dagster import ConfigurableResource

from tickflow.ml.features import FeatureParams

if TYPE_CHECKING:
    from tickflow.ml.train import TrainParams

# tickflow.ml.pipeline.MODEL_NAME, spelled out: importing the pipeline here would load
# XGBoost into every run of the code location (tests/test_startup.py checks they agree).
MODEL_NAME = "price_model"


class MlResource(ConfigurableResource):  # type: ignore[misc]
    model_name: str = MODEL_NAME
    interval_min: int = 1
    horizon: int = 1
    window_days: int = 5
    holdout_days: int = 1
    walk_forward_folds: int = 2
    num_boost_round: int = 400
    early_stopping_rounds: int = 30
    max_depth: int = 4
    learning_rate: float = 0.05

    def feature_params(self) -> FeatureParams:
        return FeatureParams(interval_min=self.interval_min, horizon=self.horizon)

    def train_params(self) -> "TrainParams":
        from tickflow.ml.train import TrainParams

        return TrainParams(window_days=self.window_days, holdout_days=self.holdout_days,
                           walk_forward_folds=self.walk_forward_folds, num_boost_round=self.num_boost_round,
                           early_stopping_rounds=self.early_stopping_rounds, max_depth=self.max_depth,
                           learning_rate=self.learning_rate)


# The code location's ML settings (definitions.py binds it as the ``ml`` resource; the live
# session run, whose first step computes features too, reads the same object).
ML = MlResource()
