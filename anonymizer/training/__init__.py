"""Training the generator: config (YAML dataclasses), data order, checkpoints, multi-process."""

from .config import TrainConfig, config_from_dict, load_config, save_config
from .trainer import TrainError, TrainSummary, train

__all__ = ["TrainConfig", "TrainError", "TrainSummary", "config_from_dict", "load_config", "save_config", "train"]
