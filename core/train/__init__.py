"""Training: GDT pretraining and supervised fine-tuning."""

from core.train.finetune import FinetuneResult, FinetuneSpec, finetune
from core.train.pretrain import TrainingFailed, TrainResult, TrainSpec, pretrain

__all__ = ["FinetuneResult", "FinetuneSpec", "TrainResult", "TrainSpec", "TrainingFailed", "finetune", "pretrain"]
