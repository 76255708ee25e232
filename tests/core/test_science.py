"""The science check: on the procedural world, the planted truths show up in short trainings.

Time reversal (TR). The world's four reversal pairs (slide_right/slide_left, grow/shrink,
rotate_cw/rotate_ccw, fall/rise) are told apart only by the direction of time. A representation
trained to be *invariant* to TR must map a clip and its reversal together, so it cannot separate such a
pair; one trained to be *distinctive* to it is pushed to encode the direction. Two short GDT
pretrainings that differ only in that choice (both also invariant to modality, as in the papers' rows
(h)/(k)), scored on the 8 reversal-pair classes by the HMDB-51 proxy, must show it: the distinctive
model scores higher and its measured reversal invariance is lower.

Modality (MOD). The sound is caused by the main object, not by the distractor or the background, so
learning to predict it pulls the video features towards the motion; a video-only model may tell videos
apart by anything. A cross-modal model and its video-only twin (both invariant to time shift and
distinctive to TR, a `table1` row whose planted gap was the widest at the earlier 600-step default:
+0.11 over three seeds then, +0.14 at 900 steps in `benchmarks/results/signal.md`) must show it on the
`table1` objective, the mean of R@1 and the linear probe, and in the measured modality invariance.

Three seeds per model, twelve trials in two processes of one thread each (deterministic on CPU). The
setup is the embedded default's (`small_world_trial`: its world, encoders, AdamW and augmentation) with
the world restricted to the reversal-pair classes (40 videos per class, so the proxy has 96 test videos)
and 250 steps instead of 900, so that the whole check takes under three minutes on two cores (measured
155 s; the earlier setup, 300 steps on 40 x 100 log-mels, took 255 s on the same machine that morning).
Checked on seeds 3-8, which chose nothing here: both TR assertions and the MOD-invariance one held on
seeds 3-5 and 6-8; cross-modal led video-only in all six seeds, by a mean of +0.104 on seeds 3-5 and
+0.036 on 6-8 (the test asks for 0.05). On the held-out worlds 2 and 3 (world seeds; training seeds
0-2) every assertion held: TR probe gap +0.128 / +0.115, MOD gap +0.097 / +0.111.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import numpy as np
import pytest
import torch

from core.data.world import REVERSAL_PAIRS, WorldConfig
from core.gdt.config import GDTConfig
from core.trial import DataSpec, TrialSpec, default_augment, open_data, run_trial, small_world_trial

SEEDS = (0, 1, 2)
SCIENCE_STEPS = 250
REVERSAL_CLASSES = tuple(name for pair in REVERSAL_PAIRS for name in pair)


def science_spec(seed: int, cache_root: str) -> TrialSpec:
    world = WorldConfig(videos_per_class=40, classes=REVERSAL_CLASSES)
    spec = small_world_trial(steps=SCIENCE_STEPS, seed=seed)
    data = DataSpec(world=world, cache_root=cache_root)
    return replace(spec, data=data, augment=default_augment(data), device="cpu")


def _one_trial(factors: tuple[tuple[str, str], ...], seed: int, cache_root: str) -> dict:
    """Runs in a worker process: one thread, so that two trials share the two cores without contention."""
    torch.set_num_threads(1)
    config = GDTConfig.build(dict(factors), clip_budget=32, temperature=0.07)
    result = run_trial(config, science_spec(seed, cache_root))
    scores = result.evaluation.scores
    return {
        "linear_top1": scores.linear_top1,
        "r_at_1": scores.r_at_1,
        "table1_objective": (scores.r_at_1 + scores.linear_top1) / 2,
        "n_test": scores.n_test,
        "n_classes": scores.n_classes,
        "invariance_TR": result.evaluation.invariance["TR"].score,
        "invariance_MOD": result.evaluation.invariance["MOD"].score,
    }


# The models, by name: the TR pair (both cross-modal) and the MOD pair (both TS-invariant, TR-distinctive).
MODELS = {
    "TR distinctive": (("TR", "distinctive"), ("MOD", "invariant")),
    "TR invariant": (("TR", "invariant"), ("MOD", "invariant")),
    "cross-modal": (("TS", "invariant"), ("TR", "distinctive"), ("MOD", "invariant")),
    "video-only": (("TS", "invariant"), ("TR", "distinctive"), ("MOD", "off")),
}


@pytest.fixture(scope="module")
def science(tmp_path_factory) -> dict:
    """Every trial of the checks below, trained once (twelve trials, two processes, ~3 min on two cores)."""
    cache_root = str(tmp_path_factory.mktemp("science-cache"))
    open_data(science_spec(0, cache_root).data)  # build both worlds' caches once, before the workers
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {
            (model, seed): pool.submit(_one_trial, factors, seed, cache_root)
            for seed in SEEDS
            for model, factors in MODELS.items()
        }
        results = {job: future.result() for job, future in futures.items()}
    table = "\n".join(f"  {model:14s} seed {seed}: {results[model, seed]}" for model, seed in results)
    print(f"science check, proxy on the reversal-pair classes:\n{table}")  # shown with pytest -s
    return {"results": results, "table": table}


@pytest.mark.slow
def test_distinctive_to_time_reversal_beats_invariant_on_the_reversal_pairs(science) -> None:
    results, table = science["results"], science["table"]
    for record in results.values():
        assert record["n_classes"] == len(REVERSAL_CLASSES) and record["n_test"] >= 90, table
    wins = 0
    for seed in SEEDS:
        distinctive, invariant = results["TR distinctive", seed], results["TR invariant", seed]
        # The choice took effect: the distinctive model keeps a clip and its reversal further apart ...
        assert distinctive["invariance_TR"] < invariant["invariance_TR"], f"seed {seed}\n{table}"
        wins += distinctive["linear_top1"] > invariant["linear_top1"]
    # ... and it pays where it should: in most seeds, and on average by more than 0.03 (below). Not in every
    # seed (measured here: +0.115 / -0.031 / +0.052): a seed's probe moves with the CPU's kernels by about the
    # seed-to-seed spread (an earlier setup's seed 0, TR invariant: 0.417 on one machine, 0.531 on an AMD
    # EPYC, same code and thread count).
    assert wins >= 2, table
    mean = {
        (model, m): np.mean([results[model, s][m] for s in SEEDS])
        for model in ("TR distinctive", "TR invariant")
        for m in ("linear_top1", "invariance_TR")
    }
    assert mean["TR invariant", "invariance_TR"] - mean["TR distinctive", "invariance_TR"] > 0.1, table
    assert mean["TR distinctive", "linear_top1"] - mean["TR invariant", "linear_top1"] > 0.03, table


@pytest.mark.slow
def test_cross_modal_beats_video_only(science) -> None:
    """The papers' largest effect, here on the `table1` objective: measured (this setup, one machine) the
    cross-modal model leads by +0.13 / +0.06 / +0.14 in seeds 0 / 1 / 2. Asserted: it leads in most seeds
    (a seed's score moves with the CPU's kernels, see above) and on average by more than 0.05."""
    results, table = science["results"], science["table"]
    gaps = [results["cross-modal", s]["table1_objective"] - results["video-only", s]["table1_objective"] for s in SEEDS]
    assert sum(gap > 0 for gap in gaps) >= 2, table
    assert np.mean(gaps) > 0.05, table


@pytest.mark.slow
def test_measured_modality_invariance_shows_whether_mod_was_invariant_or_off(science) -> None:
    """The "did the choice take effect" view must confirm MOD: a cross-modally trained model's video and
    audio embeddings of one clip are closer than those of different clips; a video-only model's are not."""
    results, table = science["results"], science["table"]
    off = [results[model, s]["invariance_MOD"] for model, s in results if model == "video-only"]
    invariant = [results[model, s]["invariance_MOD"] for model, s in results if model != "video-only"]
    # Uncentred, as before this measure was fixed: ~0.05 vs 0.00 after 100 steps of 64 clips.
    assert min(invariant) > 0.1 and max(abs(x) for x in off) < 0.05 and min(invariant) > max(off) + 0.1, table
