"""HMDB-51 proxy metrics on frozen features, and the measured invariance of an embedding.

Pure functions of feature tensors: extracting per-clip features from videos happens elsewhere.
The protocols follow the GDT paper's appendix A.3.6: per-video features are the average of the
clip features; retrieval uses test videos as queries against the train videos by cosine similarity
and counts a hit when ANY of the k nearest train videos has the query's class; few-shot samples n
train videos per class and classifies test videos by their nearest (1-NN) sample. The linear probe
is a cheap stand-in for fine-tuning: a logistic regression on standardised frozen features.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

RETRIEVAL_KS = (1, 5, 20)


def _feats(x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    t = torch.as_tensor(x).detach().to("cpu", torch.float32)
    if t.ndim != 2:
        raise ValueError(f"{name} must be (N, d), got shape {tuple(t.shape)}")
    return t


def _labels(y: torch.Tensor | np.ndarray | Sequence[int], n: int, name: str) -> torch.Tensor:
    t = torch.as_tensor(y).detach().to("cpu", torch.long)
    if t.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {tuple(t.shape)}")
    return t


def average_clip_features(clip_feats: torch.Tensor) -> torch.Tensor:
    """(N_videos, N_clips, d) -> (N_videos, d): mean over clips, then L2-normalised (one vector per video)."""
    if clip_feats.ndim != 3:
        raise ValueError(f"clip_feats must be (N_videos, N_clips, d), got shape {tuple(clip_feats.shape)}")
    return F.normalize(clip_feats.float().mean(dim=1), dim=1)


def retrieval_recall(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    test_feats: torch.Tensor,
    test_labels: torch.Tensor,
    ks: Sequence[int] = RETRIEVAL_KS,
) -> dict[int, float]:
    """R@k: fraction of test queries whose k most cosine-similar train videos include one of their class."""
    train, test = _feats(train_feats, "train_feats"), _feats(test_feats, "test_feats")
    y_train = _labels(train_labels, len(train), "train_labels")
    y_test = _labels(test_labels, len(test), "test_labels")
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be positive integers, got {tuple(ks)}")
    if max(ks) > len(train):
        raise ValueError(f"R@{max(ks)} needs at least {max(ks)} train videos, got {len(train)}")
    sims = F.normalize(test, dim=1) @ F.normalize(train, dim=1).T
    nearest = sims.topk(max(ks), dim=1).indices  # sorted, most similar first
    same = y_train[nearest] == y_test[:, None]
    return {k: same[:, :k].any(dim=1).float().mean().item() for k in ks}


def linear_probe_top1(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    test_feats: torch.Tensor,
    test_labels: torch.Tensor,
    *,
    seed: int = 0,
    max_iter: int = 1000,
    C: float = 1.0,
) -> float:
    """Top-1 accuracy on test of a multinomial logistic regression fit on standardised train features."""
    train, test = _feats(train_feats, "train_feats"), _feats(test_feats, "test_feats")
    y_train = _labels(train_labels, len(train), "train_labels")
    y_test = _labels(test_labels, len(test), "test_labels")
    # Imported here: scikit-learn (with SciPy) takes seconds to import, and the processes that only validate
    # or serve studies (the API, workers, `gdt-search check`) never fit a probe.
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed))
    # The BLAS pools scikit-learn uses start as many threads as the machine has cores, whatever the trial's
    # share (core.threads): two one-thread trials on two cores would run four BLAS threads. They get the
    # trial's torch thread count instead.
    with threadpool_limits(limits=torch.get_num_threads()):
        probe.fit(train.double().numpy(), y_train.numpy())
        return float(probe.score(test.double().numpy(), y_test.numpy()))


@dataclass(frozen=True)
class FewShotResult:
    mean: float
    std: float  # population std (ddof=0) over repeats
    accuracies: tuple[float, ...]
    shots: int


def fewshot_1nn(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    test_feats: torch.Tensor,
    test_labels: torch.Tensor,
    *,
    shots: int = 1,
    repeats: int = 10,
    seed: int = 0,
) -> FewShotResult:
    """n-shot 1-NN accuracy: per repeat, draw ``shots`` train videos per class, label test by the nearest.

    Every class present in the train labels must have at least ``shots`` videos. Test videos of a class
    absent from train count as errors.
    """
    if shots < 1 or repeats < 1:
        raise ValueError(f"shots and repeats must be >= 1, got shots={shots}, repeats={repeats}")
    train = F.normalize(_feats(train_feats, "train_feats"), dim=1)
    test = F.normalize(_feats(test_feats, "test_feats"), dim=1)
    y_train = _labels(train_labels, len(train), "train_labels").numpy()
    y_test = _labels(test_labels, len(test), "test_labels")
    by_class = {int(c): np.flatnonzero(y_train == c) for c in np.unique(y_train)}
    short = {c: len(idx) for c, idx in by_class.items() if len(idx) < shots}
    if short:
        raise ValueError(f"{shots}-shot needs {shots} train videos per class; classes with fewer: {short}")
    rng = np.random.default_rng(seed)
    accs = []
    for _ in range(repeats):
        support = np.concatenate([rng.choice(idx, size=shots, replace=False) for idx in by_class.values()])
        nearest = (test @ train[support].T).argmax(dim=1).numpy()
        accs.append(float((torch.as_tensor(y_train[support][nearest]) == y_test).float().mean()))
    return FewShotResult(float(np.mean(accs)), float(np.std(accs)), tuple(accs), shots)


def subset_indices(
    labels: torch.Tensor, classes: Sequence[int] | None = None, max_per_class: int | None = None, seed: int = 0
) -> torch.Tensor:
    """Sorted indices of the videos in ``classes`` (all if None), at most ``max_per_class`` each (seeded draw)."""
    y = torch.as_tensor(labels).cpu().numpy()
    keep = np.unique(y) if classes is None else np.asarray(sorted(set(classes)))
    rng = np.random.default_rng(seed)
    chosen = []
    for c in keep:
        idx = np.flatnonzero(y == c)
        if max_per_class is not None and len(idx) > max_per_class:
            idx = rng.choice(idx, size=max_per_class, replace=False)
        chosen.append(idx)
    return torch.as_tensor(np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64))


# The proxy metrics a trial is scored by (the `ProxyScores` fields of these names, all in [0, 1]) and their short
# labels: the one list the study spec's objective, the CLI's results table and the dashboard use.
METRIC_LABELS = {"r_at_1": "R@1", "r_at_5": "R@5", "r_at_20": "R@20", "linear_top1": "linear", "fewshot_1nn": "1-NN"}
METRICS: tuple[str, ...] = tuple(METRIC_LABELS)


def chance_scores(train_labels: torch.Tensor, test_labels: torch.Tensor) -> dict[str, float]:
    """What each metric scores, in expectation, on features that carry no class information: every gallery order
    equally likely, a classifier's guess independent of the video.

    R@k for a query of class c is then 1 - C(N - n_c, k) / C(N, k) (none of k random gallery videos is of
    class c; N train videos, n_c of class c), averaged over the test queries -- R@1 is the share n_c / N, but
    R@5 and R@20 lie far above 1 / classes (16 balanced classes: 0.28 and 0.74). The linear probe and the
    few-shot 1-NN (one support set per class) guess one of the train classes: 1 / classes.
    """
    y_train = _labels(train_labels, len(train_labels), "train_labels")
    y_test = _labels(test_labels, len(test_labels), "test_labels")
    n = len(y_train)
    per_class = {int(c): int(k) for c, k in zip(*torch.unique(y_train, return_counts=True), strict=True)}
    out = {}
    for k in RETRIEVAL_KS:
        if k > n:
            out[f"r_at_{k}"] = math.nan
            continue
        miss = {c: math.comb(n - count, k) / math.comb(n, k) for c, count in per_class.items()}
        out[f"r_at_{k}"] = float(np.mean([1.0 - miss.get(int(c), 1.0) for c in y_test]))
    out["linear_top1"] = out["fewshot_1nn"] = 1.0 / len(per_class)
    return out


@dataclass(frozen=True)
class ProxyScores:
    """Proxy metrics in [0, 1]; an R@k is nan when the (subset) train gallery has fewer than k videos."""

    r_at_1: float
    r_at_5: float
    r_at_20: float
    linear_top1: float
    fewshot_1nn: float  # mean over repeats
    fewshot_1nn_std: float
    fewshot_shots: int
    fewshot_repeats: int
    n_train: int
    n_test: int
    n_classes: int
    subset: str  # "all" or what was kept
    chance: dict[str, float] = field(default_factory=dict)  # each metric's chance level (chance_scores)


def proxy_scores(
    train_feats: torch.Tensor,
    train_labels: torch.Tensor,
    test_feats: torch.Tensor,
    test_labels: torch.Tensor,
    *,
    classes: Sequence[int] | None = None,
    max_train_per_class: int | None = None,
    max_test_per_class: int | None = None,
    fewshot_shots: int = 1,
    fewshot_repeats: int = 10,
    seed: int = 0,
) -> ProxyScores:
    """All proxy metrics on per-video features, optionally on a class/video subset (stated in ``subset``)."""
    train, test = _feats(train_feats, "train_feats"), _feats(test_feats, "test_feats")
    y_train = _labels(train_labels, len(train), "train_labels")
    y_test = _labels(test_labels, len(test), "test_labels")
    n_all_classes = len(torch.unique(y_train))
    i_train = subset_indices(y_train, classes, max_train_per_class, seed)
    i_test = subset_indices(y_test, classes, max_test_per_class, seed)
    train, y_train, test, y_test = train[i_train], y_train[i_train], test[i_test], y_test[i_test]
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"the subset leaves {len(train)} train and {len(test)} test videos; both must be > 0")

    parts = []
    if classes is not None:
        parts.append(f"classes {sorted(set(classes))} ({len(set(classes))} of {n_all_classes})")
    if max_train_per_class is not None:
        parts.append(f"<= {max_train_per_class} train videos/class")
    if max_test_per_class is not None:
        parts.append(f"<= {max_test_per_class} test videos/class")
    subset = "all" if not parts else "; ".join([*parts, f"seed {seed}"])

    # On small subsets R@k with k > n_train is undefined: report nan rather than a clamped k.
    ks = [k for k in RETRIEVAL_KS if k <= len(train)]
    recall = dict.fromkeys(RETRIEVAL_KS, math.nan) | retrieval_recall(train, y_train, test, y_test, ks)
    fewshot = fewshot_1nn(train, y_train, test, y_test, shots=fewshot_shots, repeats=fewshot_repeats, seed=seed)
    return ProxyScores(
        r_at_1=recall[1],
        r_at_5=recall[5],
        r_at_20=recall[20],
        linear_top1=linear_probe_top1(train, y_train, test, y_test, seed=seed),
        fewshot_1nn=fewshot.mean,
        fewshot_1nn_std=fewshot.std,
        fewshot_shots=fewshot_shots,
        fewshot_repeats=fewshot_repeats,
        n_train=len(train),
        n_test=len(test),
        n_classes=len(torch.unique(y_train)),
        subset=subset,
        chance=chance_scores(y_train, y_test),
    )


@dataclass(frozen=True)
class Invariance:
    score: float  # (pos - neg) / (1 - neg); nan when neg == 1 (collapsed embedding)
    pos: float  # mean cosine(z_i, z'_i)
    neg: float  # mean cosine(z_i, z'_j), j != i


def measured_invariance(z: torch.Tensor, z_transformed: torch.Tensor) -> Invariance:
    """How much closer each clip's embedding is to its own transformed version than to other clips'.

    With cosine similarities ``pos = mean_i cos(z_i, z'_i)`` and ``neg = mean_{i != j} cos(z_i, z'_j)``,
    ``score = (pos - neg) / (1 - neg)``: 1 when the transformation leaves every embedding unchanged
    (pos = 1), ~0 when a clip's transformed version is no closer than an unrelated clip's, negative when
    it is farther. Subtracting ``neg`` matters because embeddings often share a common direction
    (e.g. after a ReLU), which inflates raw cosines. If all embeddings coincide (neg = 1) the score is nan.
    """
    a, b = F.normalize(_feats(z, "z"), dim=1), F.normalize(_feats(z_transformed, "z_transformed"), dim=1)
    if a.shape != b.shape or len(a) < 2:
        raise ValueError(f"need two (N, d) tensors of the same shape with N >= 2, got {tuple(a.shape)}, "
                         f"{tuple(b.shape)}")
    sims = (a @ b.T).double()
    n = len(a)
    pos = sims.diagonal().mean().item()
    neg = ((sims.sum() - sims.diagonal().sum()) / (n * (n - 1))).item()
    score = (pos - neg) / (1 - neg) if 1 - neg > 1e-6 else math.nan
    return Invariance(score, pos, neg)
