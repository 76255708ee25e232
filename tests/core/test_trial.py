"""A whole trial on real video files: world exported as HMDB-51 + a Kinetics-style folder, decoded, trained, scored."""

from dataclasses import asdict, replace

import numpy as np
import pytest

from core.data.action_datasets import official_split_tags
from core.data.augment import AugmentSpec, VideoAugmentSpec
from core.data.world_export import export_hmdb, export_unlabeled
from core.evaluation.proxy import EvalSpec
from core.gdt.presets import preset
from core.train.pretrain import TrainSpec
from core.trial import DataSpec, TrialSpec, open_data, run_trial
from tests.core.conftest import TINY_WORLD


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    export_hmdb(TINY_WORLD, root / "hmdb", show_progress=False)
    export_unlabeled(replace(TINY_WORLD, seed=7), root / "kinetics", show_progress=False)
    return root


def _spec(exported, cache_root, steps=3):
    return TrialSpec(
        data=DataSpec(
            kind="folders",
            pretrain_root=str(exported / "kinetics"),
            hmdb_root=str(exported / "hmdb"),
            decode_fps=8,
            short_side=16,
            cache_root=str(cache_root),
            clip_frames=4,
        ),  # fmt: skip
        feature_dim=16,
        width=4,
        train=TrainSpec(steps=steps),
        eval=EvalSpec(clips_per_video=2, invariance_videos=4),
        augment=AugmentSpec(video=VideoAugmentSpec(crop_size=16)),
        device="cpu",
    )


def test_official_split_tags_follow_the_split_files(exported):
    video_dir, tags = official_split_tags("hmdb51", exported / "hmdb")
    assert video_dir == exported / "hmdb" / "hmdb51_org"
    assert len(tags) == 12 and all(len(t) == 3 for t in tags.values())
    first = (exported / "hmdb" / "testTrainMulti_7030_splits" / "grow_test_split1.txt").read_text().split("\n")[0]
    name, tag = first.split()
    assert tags[f"grow/{name}"][0] == int(tag)


def test_trial_on_decoded_files_uses_the_official_split(exported, tmp_path):
    spec = _spec(exported, tmp_path)
    pretrain_clips, data = open_data(spec.data)
    assert pretrain_clips.num_videos == 12 and pretrain_clips.labels is None  # unlabeled folder
    _, tags = official_split_tags("hmdb51", exported / "hmdb")
    assert len(data.train) == sum(t[0] == 1 for t in tags.values())
    assert len(data.test) == sum(t[0] == 2 for t in tags.values())
    assert set(np.unique(data.labels)) == {0, 1, 2, 3}

    result = run_trial(preset("iccv-i", clip_budget=16), spec)
    summary = result.summary()
    assert summary["train_steps"] == 3 and summary["score_n_test"] == len(data.test)
    assert {"invariance_TR", "invariance_MOD", "torch", "torchcodec"} <= set(summary)
    assert result.environment["gpu_seconds"] == 0.0 < result.environment["trial_seconds"]  # a CPU trial


def test_folders_without_a_proxy_root_are_refused(tmp_path):
    with pytest.raises(ValueError, match="needs pretrain_root and the hmdb51 root"):
        open_data(DataSpec(kind="folders", pretrain_root=str(tmp_path)))


def test_a_trial_stopped_at_an_intermediate_evaluation_reports_that_evaluation(exported, tmp_path):
    """A pruned trial is not evaluated twice: its result is the evaluation the pruner saw."""
    spec = _spec(exported, tmp_path, steps=6)
    spec = replace(spec, train=replace(spec.train, eval_every=2))
    seen = []

    def prune_at_step_4(step, evaluation):
        seen.append((step, evaluation))
        return step == 4

    result = run_trial(preset("iccv-i", clip_budget=16), spec, on_intermediate=prune_at_step_4)
    assert [step for step, _ in seen] == [2, 4]
    assert result.train.stopped_by == "callback" and result.train.steps == 4
    assert result.evaluation is seen[-1][1]


def test_intermediate_evaluations_do_not_change_what_a_trial_learns(exported, tmp_path):
    """A pruner's evaluations must not perturb training: otherwise a study with intermediate scores compares
    other models than one without (and bench_pruning's runs would not be the default trial's)."""
    spec = _spec(exported, tmp_path, steps=6)
    plain = run_trial(preset("iccv-i", clip_budget=16), spec)
    seen = []
    # Evaluated at step 4 only of the eval_every steps 2 and 4 (where a calibrated pruner may act).
    watched = run_trial(preset("iccv-i", clip_budget=16), replace(spec, train=replace(spec.train, eval_every=2)),
                        on_intermediate=lambda step, evaluation: seen.append(step) and False,
                        intermediate_steps={4})  # fmt: skip
    assert seen == [4]
    assert [r.loss for r in watched.train.history] == [r.loss for r in plain.train.history]
    np.testing.assert_equal(asdict(watched.evaluation.scores), asdict(plain.evaluation.scores))  # NaN == NaN here
