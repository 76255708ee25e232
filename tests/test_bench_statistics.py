"""The benchmarks' statistics against a hand computation: the signal benchmark's effects (`benchmarks/bench_signal.py`)
and the samplers benchmark's start-up bound (`benchmarks/bench_samplers.py`)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from benchmarks.bench_samplers import startup_bound
from benchmarks.bench_signal import EFFECTS, common_differences, planted_effects, ranked_effects


def _welch_by_hand(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))  # Welch-Satterthwaite
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    diff = a.mean() - b.mean()
    return diff - half, diff + half


def test_ranked_effects_names_the_largest_and_its_welch_margin():
    per_pair = {
        "MOD": np.array([0.12, 0.10, 0.15, 0.09, 0.11]),
        "TR": np.array([0.05, 0.08, 0.02, 0.07]),
        "TS": np.array([0.01, 0.03, -0.02]),
    }
    ranked = ranked_effects(per_pair, seeds=3)
    mod = ranked["effects"]["MOD"]
    half = stats.t.ppf(0.975, 4) * per_pair["MOD"].std(ddof=1) / math.sqrt(5)
    assert mod["diff"] == pytest.approx(0.114) and mod["pairs"] == 5 and mod["seeds"] == 3
    assert (mod["ci_low"], mod["ci_high"]) == pytest.approx((0.114 - half, 0.114 + half))
    assert (ranked["largest"], ranked["runner_up"]) == ("MOD", "TR")
    assert ranked["margin"] == pytest.approx(0.114 - 0.055)
    low, high = _welch_by_hand(per_pair["MOD"], per_pair["TR"])
    assert (ranked["margin_ci_low"], ranked["margin_ci_high"]) == pytest.approx((low, high))


def test_ranked_effects_is_empty_without_two_pairs_per_factor():
    assert ranked_effects({"MOD": np.array([0.1, 0.2]), "TR": np.array([0.3]), "TS": np.array([0.0, 0.1])}, 1) == {}


def _grid_rows() -> tuple[list[dict], list[str], dict]:
    """Every MOD x TR x TS combination, 2 seeds; the objective adds known per-choice effects, and the
    reversal-pair score a TR effect three times as large (TR's effect lives on those classes)."""
    objective = {"MOD": {"invariant": 0.10, "off": 0.0}, "TR": {"distinctive": 0.04, "invariant": 0.0, "off": 0.02},
                 "TS": {"distinctive": 0.03, "invariant": 0.0, "off": 0.01}}  # fmt: skip
    rows, configs, settings = [], [], {}
    for mod in ("invariant", "off"):
        for tr in ("invariant", "distinctive", "off"):
            for ts in ("invariant", "distinctive", "off"):
                name = f"MOD={mod} TR={tr} TS={ts}"
                configs.append(name)
                settings[name] = {"MOD": mod, "TR": tr, "TS": ts}
                base = objective["MOD"][mod] + objective["TR"][tr] + objective["TS"][ts]
                for seed in (0, 1):
                    rows.append({"config": name, "seed": seed, "steps": 600, "objective": 0.5 + base + 0.01 * seed,
                                 "reversal_pairs_linear": 0.4 + 3 * objective["TR"][tr] + 0.01 * seed})  # fmt: skip
    return rows, configs, settings


def test_common_differences_score_tr_on_the_objective_where_planted_effects_use_the_reversal_pairs():
    rows, configs, settings = _grid_rows()
    common = common_differences(rows, configs, settings, [0, 1], 600)
    assert set(common) == set(EFFECTS)
    assert common["MOD"] == pytest.approx(np.full(9, 0.10))  # 9 matched pairs, each exactly the planted effect
    assert common["TR"] == pytest.approx(np.full(6, 0.04))
    assert common["TS"] == pytest.approx(np.full(6, 0.03))
    planted = planted_effects(rows, configs, settings, [0, 1], 600)
    assert planted["TR"]["diff"] == pytest.approx(0.12)  # on the reversal-pair score
    assert planted["MOD"]["diff"] == pytest.approx(0.10)


def _perfect_after_startup_by_enumeration(n: int, m: int, startup: int) -> float:
    """Every order of the grid equally likely: the first `startup` are the random draws, then a perfect model."""
    costs = []
    for order in itertools.permutations([True] * m + [False] * (n - m)):
        hits = [k for k, hit in enumerate(order[:startup], 1) if hit]
        costs.append(hits[0] if hits else startup + 1)
    return sum(costs) / len(costs)


@pytest.mark.parametrize("startup", [0, 1, 2, 3, 4])
def test_startup_bound_is_a_perfect_model_after_random_draws(startup):
    assert startup_bound(7, 2, startup) == pytest.approx(_perfect_after_startup_by_enumeration(7, 2, startup))


def test_startup_bound_with_every_miss_drawn_is_random_search_without_replacement():
    # All n - m misses drawn at random leave only hits: the bound is random search's (N + 1) / (m + 1).
    assert startup_bound(18, 5, 13) == pytest.approx(19 / 6)
    assert startup_bound(18, 5, 1) == pytest.approx(1 + 13 / 18)
