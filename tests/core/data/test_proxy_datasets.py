"""The proxy-dataset registry: `core.trial.open_data` opens whichever registered entry `DataSpec.proxy` names."""

from __future__ import annotations

import numpy as np
import pytest

from core.data.proxy_datasets import PROXY_DATASETS, ProxyDataset
from core.trial import DataSpec, open_data


def test_open_data_opens_a_registered_proxy_dataset(tiny_cache, monkeypatch, tmp_path):
    calls = []

    def open_toy(root, cache_root, settings):
        calls.append((root, cache_root, settings.fps))
        return tiny_cache

    monkeypatch.setitem(PROXY_DATASETS, "toy", ProxyDataset("ucf_root", open_toy))
    monkeypatch.setattr("core.trial.build_folder_cache", lambda *args, **kwargs: tiny_cache)  # the pretraining folder
    spec = DataSpec(kind="folders", proxy="toy", pretrain_root="videos", ucf_root="toy-root", cache_root=str(tmp_path))
    pretrain, proxy = open_data(spec)
    assert calls == [("toy-root", str(tmp_path), spec.decode_fps)]  # the entry's root field, the spec's settings
    assert proxy.source is tiny_cache and np.array_equal(proxy.labels, tiny_cache.labels)
    assert len(proxy.train) and len(proxy.test)
    with pytest.raises(ValueError, match="needs pretrain_root and the toy root"):
        open_data(DataSpec(kind="folders", proxy="toy", pretrain_root="videos", cache_root=str(tmp_path)))


def test_an_unknown_proxy_dataset_is_named_with_the_registered_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown proxy dataset 'nope'; registered: hmdb51, ucf101"):
        open_data(DataSpec(kind="folders", proxy="nope", pretrain_root="videos", cache_root=str(tmp_path)))
