"""Contrast/weight matrices: lemma 6 and 7 counts, the ignore/modality masks, and c as an equivalence."""

import math

import torch
from hypothesis import given, settings

from core.gdt.config import GDTConfig, ModalityPairs
from core.gdt.contrast import batch_structure, contrast_and_weight
from core.gdt.factors import Choice
from core.gdt.sampling import HierarchicalSampler
from tests.core.gdt.strategies import gdt_configs


def _invariant_product(config, exclude=()):
    return math.prod(
        k
        for n, c, k in zip(config.factor_names, config.choices, config.ks, strict=True)
        if c is Choice.INVARIANT and n not in exclude
    )


@settings(max_examples=60, deadline=None)
@given(gdt_configs(choices=("invariant", "distinctive", "off"), max_batch=96))
def test_lemma_6_and_7_counts(config):
    structure = batch_structure(config)
    c = structure.contrast
    k, k_inv = config.batch_size, _invariant_product(config)
    assert int(c.sum()) == k * k_inv  # lemma 6: pairs with c = 1
    assert int(c.diagonal().sum()) == k  # ... of which K are trivial (T = T')
    assert ((~c).sum(dim=1) == k - k_inv).all()  # lemma 7, for every anchor


@settings(max_examples=60, deadline=None)
@given(gdt_configs(max_batch=96))
def test_counts_with_ignored_factors_and_modality_masks(config):
    """Per anchor: positives = same distinctive and ignored slots, other invariant slots; negatives = some
    distinctive slot differs, ignored slots equal; each restricted to the modality pairs that are kept."""
    structure = batch_structure(config)
    inv = _invariant_product(config, exclude=("MOD",))
    varying = math.prod(k for c, k in zip(config.choices, config.ks, strict=True) if c is not Choice.IGNORE)
    per_modality = varying // (2 if config.uses_audio else 1)  # non-ignored slot combinations, one modality
    if not config.uses_audio:
        assert (structure.positive.sum(dim=1) == inv - 1).all()
        assert (structure.negative.sum(dim=1) == per_modality - inv).all()
        return
    p = config.modality_pairs
    video = structure.modality == 0
    for anchors, same_modality in ((video, p.intra_video), (~video, p.intra_audio)):
        expected_pos = inv * p.cross_modal + (inv - 1) * same_modality
        expected_neg = (per_modality - inv) * (p.cross_modal + same_modality)
        assert (structure.positive[anchors].sum(dim=1) == expected_pos).all()
        assert (structure.negative[anchors].sum(dim=1) == expected_neg).all()


@settings(max_examples=40, deadline=None)
@given(gdt_configs(max_batch=64))
def test_contrast_is_an_equivalence_relation(config):
    c = batch_structure(config).contrast.float()
    assert c.diagonal().all()  # reflexive
    assert torch.equal(c, c.T)  # symmetric
    assert ((c @ c > 0) <= (c > 0)).all()  # transitive: c(a,b) and c(b,d) imply c(a,d)


def test_masks_match_explicit_pairwise_definition():
    config = GDTConfig.build(
        {"TS": "invariant", "MOD": "invariant", "TR": "distinctive", "SP": "ignore"},
        clip_budget=48,
        modality_pairs=ModalityPairs(True, True, False),
    )
    tuples = HierarchicalSampler(config, 10).sample().tuples
    c, w = contrast_and_weight(tuples, config)
    names = config.factor_names
    for a in range(len(tuples)):
        for b in range(len(tuples)):
            ta, tb = (
                dict(zip(names, tuples[a].tolist(), strict=True)),
                dict(zip(names, tuples[b].tolist(), strict=True)),
            )
            assert c[a, b] == (ta["DS"] == tb["DS"] and ta["TR"] == tb["TR"])
            mod_ok = ta["MOD"] != tb["MOD"] or (ta["MOD"] == tb["MOD"] == 0)
            assert w[a, b] == (a != b and ta["SP"] == tb["SP"] and mod_ok)


def test_structure_moves_between_devices():
    structure = batch_structure(GDTConfig.build({"AUG": "invariant"}, clip_budget=8)).to("cpu")
    assert structure.positive.dtype == torch.bool and structure.tuples.shape == (8, 6)
