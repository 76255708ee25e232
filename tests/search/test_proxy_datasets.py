"""The study spec's `data.proxy` choices are the proxy-dataset registry's names (`core.data.proxy_datasets`)."""

from __future__ import annotations

import json
import subprocess
import sys
import typing

from core.data.proxy_datasets import PROXY_DATASETS
from search.spec import DataSection, SpecError, load_spec

BASE = {"factors": {"TR": {"choices": ["invariant", "off"]}}}
FOLDERS = {"kind": "folders", "pretrain_root": "/videos"}


def test_the_spec_offers_exactly_the_registered_proxy_datasets():
    assert typing.get_args(DataSection.model_fields["proxy"].annotation) == tuple(PROXY_DATASETS)
    for name, dataset in PROXY_DATASETS.items():
        spec = load_spec({**BASE, "data": {**FOLDERS, "proxy": name, dataset.root_field: "/root"}})
        assert spec.data_spec().proxy == name
        try:
            load_spec({**BASE, "data": {**FOLDERS, "proxy": name}})
        except SpecError as error:
            assert f"data.{dataset.root_field}" in dict(error.problems)  # the entry's root field is asked for
        else:
            raise AssertionError(f"{name}: a spec without its root was accepted")


def test_a_registered_proxy_dataset_is_accepted_by_the_spec():
    """One entry in the registry (made before the spec is built, as a module adding it would) is enough."""
    code = """
import json
from core.data.proxy_datasets import PROXY_DATASETS, ProxyDataset
PROXY_DATASETS["toy"] = ProxyDataset("ucf_root", lambda root, cache_root, settings: None)
from search.spec import SpecError, load_spec
BASE = {"factors": {"TR": {"choices": ["invariant", "off"]}}}
spec = load_spec({**BASE, "data": {"kind": "folders", "proxy": "toy", "pretrain_root": "/videos", "ucf_root": "/toy"}})
try:
    load_spec({**BASE, "data": {"kind": "folders", "proxy": "toy", "pretrain_root": "/videos"}})
except SpecError as error:
    missing = [field for field, _ in error.problems]
print(json.dumps({"proxy": spec.data_spec().proxy, "root": spec.data_spec().ucf_root, "missing": missing}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.splitlines()[-1]) == {"proxy": "toy", "root": "/toy", "missing": ["data.ucf_root"]}
    assert "toy" not in PROXY_DATASETS
