"""The pretraining loop: budgets, determinism, failure reasons, checkpoints and callbacks."""

from dataclasses import replace

import pytest
import torch

from core.data.augment import AugmentSpec, VideoAugmentSpec
from core.data.clips import ClipSpec
from core.errors import FailureKind
from core.gdt.presets import preset
from core.models.encoders import build_encoders
from core.train.pretrain import TrainCallback, TrainingFailed, TrainSpec, load_checkpoint, pretrain

CLIP = ClipSpec(num_frames=4)
AUGMENT = AugmentSpec(video=VideoAugmentSpec(crop_size=16))
CONFIG = preset("iccv-i", clip_budget=16)  # DS d, TR d, MOD i: 4 videos x 4 clips


def _model(seed=0):
    torch.manual_seed(seed)
    return build_encoders("tiny_video", "tiny_audio", feature_dim=16, width=4, hidden_dim=16, embed_dim=8)


def _train(cache, spec, **kw):
    return pretrain(_model(), cache, CONFIG, spec, CLIP, AUGMENT, **kw)


def test_same_seed_same_losses_on_cpu(tiny_cache):
    a = _train(tiny_cache, TrainSpec(steps=3, seed=5))
    b = _train(tiny_cache, TrainSpec(steps=3, seed=5))
    c = _train(tiny_cache, TrainSpec(steps=3, seed=6))
    assert [r.loss for r in a.history] == [r.loss for r in b.history]
    assert [r.loss for r in a.history] != [r.loss for r in c.history]


def test_training_lowers_the_loss(tiny_cache):
    result = _train(tiny_cache, TrainSpec(steps=30, lr=0.05, optimizer="adamw", warmup_fraction=0.0))
    first = sum(r.loss for r in result.history[:5]) / 5
    last = sum(r.loss for r in result.history[-5:]) / 5
    assert last < first - 0.1


def test_step_epoch_and_seconds_budgets(tiny_cache):
    assert _train(tiny_cache, TrainSpec(steps=4)).steps == 4
    videos = tiny_cache.num_videos  # epochs count videos: K_i = 4 videos per step
    assert _train(tiny_cache, TrainSpec(epochs=1.0)).steps == -(-videos // CONFIG.k_videos)
    timed = _train(tiny_cache, TrainSpec(steps=10_000, seconds=0.5))
    assert timed.stopped_by == "seconds" and timed.steps < 10_000


def test_warmup_then_cosine_schedule(tiny_cache):
    lrs = [r.lr for r in _train(tiny_cache, TrainSpec(steps=10, lr=0.1, warmup_fraction=0.3)).history]
    assert lrs[0] < lrs[2] <= 0.1 + 1e-9  # ramps up over the warm-up
    assert lrs[-1] < lrs[4]  # then decays


def test_non_finite_loss_stops_with_the_reason(tiny_cache):
    with pytest.raises(TrainingFailed, match="non-finite loss") as error:
        _train(tiny_cache, TrainSpec(steps=50, lr=1e30, grad_clip=None, warmup_fraction=0.0, momentum=0.0))
    assert error.value.step >= 1 and error.value.kind is FailureKind.NON_FINITE


def test_out_of_memory_is_reported_as_the_reason(tiny_cache):
    """Fault injection: the video encoder runs out of memory on its second call."""
    model = _model()
    calls = {"n": 0}
    forward = model.video.forward

    def exhausting(x):
        calls["n"] += 1
        if calls["n"] == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return forward(x)

    model.video.forward = exhausting
    with pytest.raises(TrainingFailed, match="out of memory: CUDA out of memory") as error:
        pretrain(model, tiny_cache, CONFIG, TrainSpec(steps=5), CLIP, AUGMENT)
    assert error.value.step == 1 and error.value.kind is FailureKind.OOM


def test_callback_sees_every_step_and_can_stop_the_run(tiny_cache):
    class Recorder(TrainCallback):
        def __init__(self):
            self.steps, self.evaluations = [], []

        def on_step(self, report):
            self.steps.append(report.step)
            assert report.clips_per_second > 0

        def on_evaluation(self, step, model):
            self.evaluations.append(step)
            assert not model.training  # evaluated frozen
            return step >= 4

    recorder = Recorder()
    result = _train(tiny_cache, TrainSpec(steps=10, eval_every=2), callback=recorder)
    assert recorder.steps == [1, 2, 3, 4] and recorder.evaluations == [2, 4]
    assert result.stopped_by == "callback"


def test_checkpoint_at_the_end_and_resume(tiny_cache, tmp_path):
    path = tmp_path / "trial.pt"
    model = _model()
    pretrain(model, tiny_cache, CONFIG, TrainSpec(steps=3), CLIP, AUGMENT, checkpoint=path)
    restored = _model(seed=99)
    assert load_checkpoint(path, restored) == 3
    pairs = zip(model.state_dict().values(), restored.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    # Resuming continues from step 3 to the budget of 5 instead of starting again.
    resumed = pretrain(_model(seed=99), tiny_cache, CONFIG, TrainSpec(steps=5), CLIP, AUGMENT, checkpoint=path)
    assert resumed.steps == 5 and len(resumed.history) == 2


def test_periodic_checkpoints(tiny_cache, tmp_path):
    path = tmp_path / "every.pt"
    seen = []

    class Watch(TrainCallback):
        def on_step(self, report):
            if path.exists():
                seen.append((report.step, torch.load(path, weights_only=False)["step"]))

    _train(tiny_cache, replace(TrainSpec(steps=5), checkpoint_every=2), checkpoint=path, callback=Watch())
    assert seen == [(3, 2), (4, 2), (5, 4)]  # saved after steps 2 and 4 (seen from the next step on)


def test_unknown_optimizer_or_schedule_is_refused(tiny_cache):
    with pytest.raises(ValueError, match="optimizer must be"):
        _train(tiny_cache, TrainSpec(steps=1, optimizer="lion"))
    with pytest.raises(ValueError, match="schedule must be"):
        _train(tiny_cache, TrainSpec(steps=1, schedule="linear"))


def test_compile_compiles_the_embedding_methods():
    """`torch.compile(model)` would compile only `forward`; a training step calls `embed_video`/`embed_audio`."""
    from torch._dynamo.utils import counters

    from core.train.pretrain import embedders

    torch._dynamo.reset()
    counters.clear()
    model = build_encoders("tiny_video", "tiny_audio", feature_dim=8, width=4).eval()
    # The eager backend: dynamo captures the same graphs without inductor's minute of C++ compilation.
    embed_video, embed_audio = embedders(model, compile=True, backend="eager")
    video, audio = torch.randn(2, 3, 4, 16, 16), torch.randn(2, 1, 40, 20)
    with torch.no_grad():
        assert torch.allclose(embed_video(video), model.embed_video(video), atol=1e-5)
        assert torch.allclose(embed_audio(audio), model.embed_audio(audio), atol=1e-5)
    assert counters["stats"]["unique_graphs"] >= 2  # dynamo captured a graph for each method
    assert embedders(model, compile=False) == (model.embed_video, model.embed_audio)
