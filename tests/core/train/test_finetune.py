"""Full fine-tuning: the encoder itself trains, the schedule follows the protocol, predictions average clips."""

import pytest
import torch

from core.data.augment import AugmentSpec, VideoAugmentSpec
from core.data.clips import ClipSpec
from core.models.encoders import build_encoders
from core.train.finetune import FinetuneSpec, VideoClassifier, _lr_factor, finetune

CLIP = ClipSpec(num_frames=4)
# No flip: a mirrored slide_right is a slide_left, which would make the training labels ambiguous.
AUGMENT = AugmentSpec(video=VideoAugmentSpec(crop_size=16, flip_p=0.0))


def test_lr_warms_up_then_steps_down_at_the_milestones():
    factor = _lr_factor(FinetuneSpec(), steps_per_epoch=10)
    assert factor(0) == pytest.approx(0.0025 / 0.02)
    assert factor(10) == pytest.approx((0.125 + 1) / 2)  # halfway through the 2 warm-up epochs
    assert factor(20) == 1.0 and factor(59) == 1.0
    assert factor(60) == pytest.approx(0.05) and factor(100) == pytest.approx(0.05**2)


def test_finetuning_trains_the_encoder_and_fits_the_training_set(tiny_proxy):
    torch.manual_seed(0)
    model = build_encoders("tiny_video", "tiny_audio", feature_dim=16, width=16)
    before = {k: v.clone() for k, v in model.video.state_dict().items()}
    spec = FinetuneSpec(epochs=25, batch_size=8, train_clips_per_video=4, test_clips_per_video=3, lr=0.05,
                        warmup_epochs=1, milestones=(20,))  # fmt: skip
    result = finetune(model, tiny_proxy, spec, CLIP, AUGMENT)
    assert all(torch.equal(v, model.video.state_dict()[k]) for k, v in before.items())  # caller's model untouched
    # Fits the 8 training videos of 4 classes (chance 0.25): accuracy on the augmented training clips
    # (random crops of 4-frame clips, so rarely 100 %) averaged over the last 5 epochs.
    late = [epoch["clip_accuracy"] for epoch in result.history[-5:]]
    assert sum(late) / len(late) >= 0.75 and result.history[0]["clip_accuracy"] < 0.5
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert 0.0 <= result.top1 <= 1.0 and len(result.history) == 25


def test_classifier_starts_from_the_pretrained_encoder():
    model = build_encoders("tiny_video", "tiny_audio", feature_dim=16, width=4)
    classifier = VideoClassifier(model, num_classes=5)
    x = torch.randn(2, 3, 4, 16, 16)
    model.eval(), classifier.eval()
    assert torch.allclose(classifier.encoder(x), model.video(x))
    assert classifier(x).shape == (2, 5)


def test_final_evaluation_fine_tunes_a_trial_checkpoint(tmp_path, tiny_cache):
    from core.evaluation.proxy import EvalSpec
    from core.gdt.presets import preset
    from core.train.pretrain import TrainSpec
    from core.trial import DataSpec, TrialSpec, final_evaluation, run_trial
    from tests.core.conftest import TINY_WORLD

    spec = TrialSpec(data=DataSpec(world=TINY_WORLD, cache_root=str(tmp_path / "clips"), clip_frames=4),
                     feature_dim=16, width=4, train=TrainSpec(steps=2), eval=EvalSpec(clips_per_video=1),
                     augment=AUGMENT, device="cpu")  # fmt: skip
    run_trial(preset("iccv-e", clip_budget=16), spec, checkpoint=tmp_path / "model.pt")
    result = final_evaluation(tmp_path / "model.pt", spec, FinetuneSpec(epochs=1, batch_size=8, test_clips_per_video=2))
    assert len(result.history) == 1 and 0.0 <= result.top1 <= 1.0
