import math

import pytest
import torch

from core.evaluation.metrics import (
    average_clip_features,
    chance_scores,
    fewshot_1nn,
    linear_probe_top1,
    measured_invariance,
    proxy_scores,
    retrieval_recall,
    subset_indices,
)


def clustered(n_classes: int, per_class: int, dim: int = 16, noise: float = 0.05, seed: int = 0):
    """Features near the one-hot centre of their class: every metric should be perfect."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    feats = torch.eye(dim)[labels] + noise * torch.randn(len(labels), dim, generator=g)
    return feats, labels


@pytest.fixture
def split():
    train, y_train = clustered(6, 5, seed=0)
    test, y_test = clustered(6, 3, seed=1)
    return train, y_train, test, y_test


def test_average_clip_features_means_then_normalises():
    clips = torch.tensor([[[3.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 2.0]]])
    out = average_clip_features(clips)
    torch.testing.assert_close(out[0], torch.tensor([1.0, 0.0]))
    # mean (0.5, 1) normalised; normalising each clip first would give (0.707, 0.707)
    torch.testing.assert_close(out[1], torch.tensor([0.5, 1.0]) / math.sqrt(1.25))
    with pytest.raises(ValueError, match="N_videos, N_clips, d"):
        average_clip_features(torch.zeros(3, 4))


def test_perfectly_clustered_features_score_one(split):
    scores = proxy_scores(*split, fewshot_repeats=3)
    assert (scores.r_at_1, scores.r_at_5, scores.r_at_20) == (1.0, 1.0, 1.0)
    assert scores.linear_top1 == 1.0
    assert scores.fewshot_1nn == 1.0 and scores.fewshot_1nn_std == 0.0
    assert (scores.n_train, scores.n_test, scores.n_classes, scores.subset) == (30, 18, 6, "all")


def test_permuted_labels_drop_recall_and_probe(split):
    train, y_train, test, y_test = split
    shifted = (y_test + 1) % 6  # every query now carries another cluster's label
    assert retrieval_recall(train, y_train, test, y_test)[1] == 1.0
    recall = retrieval_recall(train, y_train, test, shifted, ks=(1, 5, 30))
    assert recall[1] == 0.0 and recall[5] == 0.0  # the 5 nearest are the query's own cluster
    assert recall[30] == 1.0  # the whole gallery holds every class
    assert linear_probe_top1(train, y_train, test, shifted) == 0.0
    assert fewshot_1nn(train, y_train, test, shifted, repeats=2).mean == 0.0


def test_recall_counts_a_hit_if_any_of_the_k_nearest_shares_the_class():
    # Train videos on the unit circle at 0, 10, 20, 30, 40 degrees; queries at 1, 41 and -5 degrees.
    def at(*degrees):
        r = torch.deg2rad(torch.tensor(degrees))
        return torch.stack([r.cos(), r.sin()], dim=1)

    train, y_train = at(0.0, 10.0, 20.0, 30.0, 40.0), torch.tensor([1, 0, 0, 1, 2])
    test, y_test = at(1.0, 41.0, -5.0), torch.tensor([0, 1, 2])
    # query 1 (class 0): neighbours 0,10,.. -> classes 1,0,..   first hit at rank 2
    # query 2 (class 1): neighbours 40,30,.. -> classes 2,1,..  first hit at rank 2
    # query 3 (class 2): neighbours 0,10,20,30,40 -> 1,0,0,1,2  first hit at rank 5
    recall = retrieval_recall(train, y_train, test, y_test, ks=(1, 2, 3, 4, 5))
    assert recall == {1: 0.0, 2: pytest.approx(2 / 3), 3: pytest.approx(2 / 3), 4: pytest.approx(2 / 3), 5: 1.0}
    with pytest.raises(ValueError, match="R@20 needs at least 20 train videos"):
        retrieval_recall(train, y_train, test, y_test)


def test_retrieval_uses_cosine_not_euclidean_distance():
    train, y_train = torch.tensor([[10.0, 0.0], [0.5, 0.7]]), torch.tensor([0, 1])
    test, y_test = torch.tensor([[1.0, 0.1]]), torch.tensor([0])  # Euclid: nearer (0.5, 0.7); cosine: (10, 0)
    assert retrieval_recall(train, y_train, test, y_test, ks=(1,))[1] == 1.0


def test_fewshot_repeats_are_seeded_and_report_spread():
    train, y_train = clustered(4, 10, noise=0.9, seed=2)
    test, y_test = clustered(4, 10, noise=0.9, seed=3)
    a = fewshot_1nn(train, y_train, test, y_test, shots=1, repeats=8, seed=5)
    b = fewshot_1nn(train, y_train, test, y_test, shots=1, repeats=8, seed=5)
    assert a == b and len(a.accuracies) == 8
    assert a.std > 0 and a.mean == pytest.approx(sum(a.accuracies) / 8)
    assert fewshot_1nn(train, y_train, test, y_test, shots=1, repeats=8, seed=6) != a
    assert fewshot_1nn(train, y_train, test, y_test, shots=10, repeats=3).std == 0.0  # the whole train set
    with pytest.raises(ValueError, match="11-shot needs 11 train videos per class"):
        fewshot_1nn(train, y_train, test, y_test, shots=11)


def test_subsets_are_respected_and_stated(split):
    train, y_train, test, y_test = split
    scores = proxy_scores(train, y_train, test, y_test, classes=[4, 1], max_train_per_class=4,
                          max_test_per_class=2, fewshot_shots=2, fewshot_repeats=2, seed=3)
    assert (scores.n_train, scores.n_test, scores.n_classes) == (8, 4, 2)
    assert scores.subset == ("classes [1, 4] (2 of 6); <= 4 train videos/class; <= 2 test videos/class; seed 3")
    assert (scores.r_at_1, scores.r_at_5) == (1.0, 1.0)
    assert math.isnan(scores.r_at_20)  # 8 train videos: R@20 is undefined, not clamped
    assert (scores.fewshot_shots, scores.fewshot_repeats) == (2, 2)

    idx = subset_indices(y_train, classes=[4, 1], max_per_class=3, seed=0)
    assert torch.equal(torch.bincount(y_train[idx], minlength=6), torch.tensor([0, 3, 0, 0, 3, 0]))
    assert torch.equal(idx, idx.sort().values)
    assert torch.equal(idx, subset_indices(y_train, classes=[4, 1], max_per_class=3, seed=0))
    assert not torch.equal(idx, subset_indices(y_train, classes=[4, 1], max_per_class=3, seed=1))
    assert len(subset_indices(y_train)) == 30
    with pytest.raises(ValueError, match="the subset leaves 0 train"):
        proxy_scores(train, y_train, test, y_test, classes=[99])


def test_invariance_is_one_for_identical_embeddings():
    z = torch.randn(50, 32, generator=torch.Generator().manual_seed(0)).relu()
    inv = measured_invariance(z, z.clone())
    assert inv.score == pytest.approx(1.0) and inv.pos == pytest.approx(1.0)
    assert 0.2 < inv.neg < 0.9  # ReLU features share a direction: raw cosines of unrelated clips are high


def test_invariance_is_about_zero_for_independent_embeddings():
    g = torch.Generator().manual_seed(0)
    inv = measured_invariance(torch.randn(300, 128, generator=g), torch.randn(300, 128, generator=g))
    assert abs(inv.score) < 0.03 and abs(inv.pos) < 0.03 and abs(inv.neg) < 0.01
    # unrelated clips with a shared offset: raw pos is high, the normalised score still ~0
    z, z_other = torch.randn(300, 128, generator=g) + 2, torch.randn(300, 128, generator=g) + 2
    inv = measured_invariance(z, z_other)
    assert inv.pos > 0.7 and abs(inv.score) < 0.05


def test_invariance_is_partial_for_partially_changed_embeddings_and_nan_when_collapsed():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(300, 64, generator=g)
    inv = measured_invariance(z, z + torch.randn(300, 64, generator=g))  # half signal, half noise
    assert inv.score == pytest.approx(2**-0.5, abs=0.05)
    worse = measured_invariance(z, z + 3 * torch.randn(300, 64, generator=g))
    assert 0.1 < worse.score < inv.score
    collapsed = measured_invariance(torch.ones(5, 4), torch.ones(5, 4))
    assert math.isnan(collapsed.score) and collapsed.pos == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same shape"):
        measured_invariance(torch.ones(5, 4), torch.ones(4, 4))


def test_chance_is_the_hand_computation_and_what_random_features_score():
    """R@k of features with no class information: 1 - C(N - n_c, k) / C(N, k) per query; R@1 the class share, the
    classifiers 1 / classes. Unbalanced gallery (3, 5, 12 of 20 train videos), one test video per class and
    one of a class the gallery lacks (it can never hit)."""
    y_train = torch.tensor([0] * 3 + [1] * 5 + [2] * 12)
    y_test = torch.tensor([0, 1, 2, 3])
    chance = chance_scores(y_train, y_test)
    for k in (1, 5, 20):
        hits = [1 - math.comb(20 - n_c, k) / math.comb(20, k) for n_c in (3, 5, 12)] + [0.0]
        assert chance[f"r_at_{k}"] == pytest.approx(sum(hits) / 4)
    assert chance["r_at_1"] == pytest.approx((3 + 5 + 12) / 20 / 4)
    assert chance["linear_top1"] == chance["fewshot_1nn"] == pytest.approx(1 / 3)

    # 16 balanced classes, 5 videos each: random features score it (200 draws, within 3 standard errors)
    y_train, y_test = torch.arange(16).repeat_interleave(5), torch.arange(16).repeat_interleave(2)
    chance = chance_scores(y_train, y_test)
    assert chance["r_at_1"] == pytest.approx(1 / 16) and chance["r_at_5"] > 4 * chance["r_at_1"]
    g = torch.Generator().manual_seed(0)
    drawn = [retrieval_recall(torch.randn(80, 8, generator=g), y_train, torch.randn(32, 8, generator=g), y_test)
             for _ in range(200)]  # fmt: skip
    for k in (1, 5, 20):
        values = torch.tensor([d[k] for d in drawn])
        assert values.mean().item() == pytest.approx(chance[f"r_at_{k}"], abs=3 * values.std().item() / math.sqrt(200))
    scores = proxy_scores(torch.randn(80, 8, generator=g), y_train, torch.randn(32, 8, generator=g), y_test)
    assert scores.chance == chance
