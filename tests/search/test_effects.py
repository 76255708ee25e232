"""search.intervals, search.effects and search.best against hand computations.

The t quantiles below are from a printed table (t(0.975, 1) = 12.706, t(0.975, 2) = 4.303), not from scipy,
so a wrong degree of freedom or a one-sided quantile fails these tests.
"""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState

from core.gdt.config import GDTConfig
from search.best import best_set
from search.effects import factor_effects
from search.intervals import estimate, welch_p
from search.measurements import fold, from_study

T_975_DF2 = 4.302653
T_975_DF1 = 12.706205

# TR invariant vs distinctive in three matched settings (TS choice, temperature); DS's K differs in the third
# (it follows from the budget) and still matches. Seeds: 2 per configuration, averaged per side first.
CONFIGS = [
    GDTConfig.build({"TS": "invariant", "MOD": "invariant", "TR": "invariant"}),
    GDTConfig.build({"TS": "invariant", "MOD": "invariant", "TR": "distinctive"}),
    GDTConfig.build({"MOD": "invariant", "TR": "invariant"}),
    GDTConfig.build({"MOD": "invariant", "TR": "distinctive"}),
    GDTConfig.build({"MOD": "invariant", "TR": "distinctive"}, clip_budget=128),
]
I_TS, D_TS, I_OFF, D_OFF, D_OFF_K = (c.describe() for c in CONFIGS)
# what a trial records beside its notation (search.objective: GDTConfig.settings_record), by notation
SETTINGS = {c.describe(): c.settings_record() for c in CONFIGS}
SAMPLES = [
    # number, config, settings, params, seeds' scores
    (0, I_TS, SETTINGS[I_TS], {"TS": "invariant", "TR": "invariant", "temperature": 0.07}, [0.40, 0.42]),  # 0.41
    (1, D_TS, SETTINGS[D_TS], {"TS": "invariant", "TR": "distinctive", "temperature": 0.07}, [0.50, 0.52]),  # +0.10
    (2, I_OFF, SETTINGS[I_OFF], {"TS": "off", "TR": "invariant", "temperature": 0.07}, [0.30, 0.30]),  # 0.30
    (3, D_OFF_K, SETTINGS[D_OFF_K], {"TS": "off", "TR": "distinctive", "temperature": 0.07}, [0.50, 0.50]),  # +0.20
    (4, I_TS, SETTINGS[I_TS], {"TS": "invariant", "TR": "invariant", "temperature": 0.2}, [0.20, 0.20]),  # 0.20
    (5, D_TS, SETTINGS[D_TS], {"TS": "invariant", "TR": "distinctive", "temperature": 0.2}, [0.50, 0.50]),  # +0.30
    # differs from #2 in TR *and* temperature: no pair for TR
    (6, D_OFF, SETTINGS[D_OFF], {"TS": "off", "TR": "distinctive", "temperature": 0.5}, [0.90, 0.90]),
]


def test_the_samples_are_the_configurations_they_say():
    assert (I_TS, D_TS) == (
        "DS=d(8) TS=i(2) MOD=i(2) TR=i(2) SP=off AUG=off",
        "DS=d(8) TS=i(2) MOD=i(2) TR=d(2) SP=off AUG=off",
    )
    assert (I_OFF, D_OFF, D_OFF_K) == (
        "DS=d(16) TS=off MOD=i(2) TR=i(2) SP=off AUG=off",
        "DS=d(16) TS=off MOD=i(2) TR=d(2) SP=off AUG=off",
        "DS=d(32) TS=off MOD=i(2) TR=d(2) SP=off AUG=off",
    )
    assert SETTINGS[D_OFF_K]["DS"] == {"choice": "distinctive", "k": 32}


def test_a_mean_of_seeds_has_a_t_interval_and_one_seed_has_none():
    e = estimate([0.1, 0.2, 0.3])
    half = T_975_DF2 * 0.1 / math.sqrt(3)
    assert e.mean == pytest.approx(0.2) and e.sd == pytest.approx(0.1) and e.n == 3
    assert e.low == pytest.approx(0.2 - half, abs=1e-6) and e.high == pytest.approx(0.2 + half, abs=1e-6)
    assert e.text() == f"0.200 [{0.2 - half:.3f}, {0.2 + half:.3f}], 3 seeds"
    one = estimate([0.4])
    assert one.low is None and one.high is None and one.sd is None
    assert one.text() == "0.400 (1 seed, no interval)" and "±" not in one.text()


def test_paired_effect_matches_the_hand_computation():
    effects = {(e.factor, e.choice, e.reference): e for e in factor_effects(fold(SAMPLES))}
    tr = effects[("TR", "distinctive", "invariant")]
    # pairs: 0.51 - 0.41, 0.50 - 0.30, 0.50 - 0.20 -> 0.1, 0.2, 0.3 (the same-temperature matches only)
    half = T_975_DF2 * 0.1 / math.sqrt(3)
    assert tr.pairs == 3 and (tr.min_seeds, tr.max_seeds) == (2, 2)
    assert tr.estimate.mean == pytest.approx(0.2)
    assert tr.estimate.low == pytest.approx(0.2 - half, abs=1e-6)
    assert tr.estimate.high == pytest.approx(0.2 + half, abs=1e-6)
    assert tr.text() == (
        f"TR distinctive - invariant: +0.200 [{0.2 - half:+.3f}, {0.2 + half:+.3f}],"
        " paired over 3 configuration pairs x 2 seeds"
    )
    # TS off - invariant: matched at TR=i, temperature 0.07 (0.30 - 0.41) and TR=d, 0.07 (0.50 - 0.51); the
    # temperature-0.5 configuration (#6) has no TS=i partner.
    ts = effects[("TS", "off", "invariant")]
    half = T_975_DF1 * (math.sqrt(((-0.11 + 0.06) ** 2 + (-0.01 + 0.06) ** 2) / 1)) / math.sqrt(2)
    assert ts.pairs == 2 and ts.estimate.mean == pytest.approx(-0.06)
    assert ts.estimate.high - ts.estimate.mean == pytest.approx(half, rel=1e-5)


def test_below_two_pairs_there_is_no_interval_and_it_says_so():
    effects = factor_effects(fold(SAMPLES[:2] + SAMPLES[6:]))
    tr = next(e for e in effects if e.factor == "TR")
    assert tr.pairs == 1 and tr.estimate is None
    assert "fewer than 2 matched pairs" in tr.text() and tr.as_dict()["low"] is None


def test_one_row_per_configuration_and_hyper_parameters_and_duplicates_never_count():
    study = optuna.create_study(direction="maximize")
    dist = {"temperature": optuna.distributions.FloatDistribution(0.01, 1.0)}
    for _, config, settings, params, values in SAMPLES:
        study.add_trial(
            optuna.trial.create_trial(
                params={"temperature": params["temperature"]},
                distributions=dist,
                value=sum(values) / len(values),
                user_attrs={"trained": True, "config": config, "settings": settings, "seed_values": values},
            )
        )
    clean = from_study(study)
    study.add_trial(  # a duplicate of #1 as stored (PRUNED, no value) and as stored before (COMPLETE with a value)
        optuna.trial.create_trial(
            params={"temperature": 0.07},
            distributions=dist,
            state=TrialState.PRUNED,
            user_attrs={"config": D_TS, "settings": SETTINGS[D_TS], "duplicate_of": 1},
        )  # fmt: skip
    )
    study.add_trial(
        optuna.trial.create_trial(
            params={"temperature": 0.07},
            distributions=dist,
            value=0.51,
            user_attrs={
                "config": D_TS,
                "settings": SETTINGS[D_TS],
                "duplicate_of": 1,
                "trained": False,
                "seed_values": [0.5, 0.52],
            },
        )  # fmt: skip
    )
    noisy = from_study(study)
    assert [(m.config, m.hyper, m.values) for m in noisy] == [(m.config, m.hyper, m.values) for m in clean]
    assert len(clean) == 7  # I_TS at temperature 0.07 and 0.2 are two rows, not one mean with a "±" across them
    assert [m.numbers for m in clean if m.config == I_TS] == [[0], [4]]
    assert [m.settings for m in clean if m.config == I_TS] == [SETTINGS[I_TS]] * 2  # as recorded, never parsed
    assert factor_effects(clean)[0].as_dict() == factor_effects(fold(SAMPLES))[0].as_dict()


def test_a_configuration_trained_twice_has_one_measurement_per_seed_not_two():
    """Every trial of a study trains the same seeds: a second training of a configuration repeats seeds 0 and 1
    (common random numbers), so the entry keeps 2 seeds, each the mean of its two trainings, and the interval
    of those 2 -- not 4 values as if the copies were new seeds."""
    once, twice = (
        fold([(0, I_TS, SETTINGS[I_TS], {}, [0.40, 0.50])] + extra)
        for extra in ([], [(3, I_TS, SETTINGS[I_TS], {}, [0.42, 0.52])])
    )
    (entry,) = twice
    assert entry.seeds == [0, 1] and entry.values == pytest.approx([0.41, 0.51]) and entry.numbers == [0, 3]
    e = entry.estimate
    assert e.n == 2 and e.mean == pytest.approx(0.46)
    assert e.high - e.low == pytest.approx(2 * T_975_DF1 * 0.05 * math.sqrt(2) / math.sqrt(2))  # sd of 0.41, 0.51
    assert e.n == once[0].estimate.n  # a copy adds no measurement
    # a seed without a score (None) in one training leaves its other seeds where they are
    (gap,) = fold([(0, I_TS, SETTINGS[I_TS], {}, [None, 0.50]), (1, I_TS, SETTINGS[I_TS], {}, [0.40, 0.60])])
    assert gap.seeds == [0, 1] and gap.values == pytest.approx([0.40, 0.55])


def test_the_best_set_holds_what_welch_cannot_tell_apart():
    entries = fold(
        [
            (0, I_TS, SETTINGS[I_TS], {}, [0.50, 0.52, 0.54]),  # best: mean 0.52
            (1, D_TS, SETTINGS[D_TS], {}, [0.49, 0.53, 0.51]),  # 0.51, overlapping: p large
            (2, I_OFF, SETTINGS[I_OFF], {}, [0.10, 0.11, 0.12]),  # far below: p tiny
            (3, D_OFF, SETTINGS[D_OFF], {}, [0.515]),  # one seed: cannot be tested
        ]
    )
    result = best_set(entries, chance=0.25)
    assert result.best.config == I_TS
    # Welch by hand for #1: equal sds (0.02), n = 3: t = 0.01 / sqrt(2 * 0.0004 / 3) = 0.612, df = 4
    assert [m.config for m, _ in result.indistinguishable] == [D_TS]
    assert result.indistinguishable[0][1] == pytest.approx(0.5734, abs=1e-3)
    assert welch_p([0.50, 0.52, 0.54], [0.10, 0.11, 0.12]) < 0.001
    assert result.untestable == 1
    text = "\n".join(result.lines())
    assert "chance level (no class information in the features): 0.250" in text and "0.520 [" in text

    single = best_set(fold([(0, I_TS, SETTINGS[I_TS], {}, [0.5]), (1, D_TS, SETTINGS[D_TS], {}, [0.4])]))
    assert single.indistinguishable == [] and "no set can be computed" in single.note
