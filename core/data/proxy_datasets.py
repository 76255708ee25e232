"""The labelled proxy datasets a trial on real folders is scored on, one registry; the spec's choices are these names.

Adding a proxy dataset is one entry here (plus its test): `core.trial.DataSpec.proxy` and the study spec's
`data.proxy` accept exactly the registered names, `core.trial.open_data` opens the chosen entry, and
`search.spec.check_spec` asks for the root field the entry names. An entry whose root is a new field also
adds that field to `core.trial.DataSpec` (the study spec's `data` section follows the dataclass).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from core.data.action_datasets import official_split_tags
from core.data.clip_cache import ClipCache, build_folder_cache
from core.data.video_folder import DecodeSettings


@dataclass(frozen=True)
class ProxyDataset:
    """How a labelled proxy dataset is found and opened.

    ``root_field``: the `core.trial.DataSpec` field (the study spec's ``data.<root_field>``) that holds its
    root folder. ``open``: root, cache root, decode settings -> the dataset's clip cache, with labels and
    HMDB-style split tags (1 = train, 2 = test, one column per fold).
    """

    root_field: str
    open: Callable[[str | Path, str | Path | None, DecodeSettings], ClipCache]


def official_layout(name: str, root: str | Path, cache_root: str | Path | None, settings: DecodeSettings) -> ClipCache:
    """A dataset in its official layout (`core.data.action_datasets`): labels from the class folders, the
    official split files as tags."""
    video_dir, tags = official_split_tags(name, root)
    return build_folder_cache(
        video_dir, cache_root, settings, label_from_parent=True, split_tags=tags, show_progress=False
    )


PROXY_DATASETS: dict[str, ProxyDataset] = {
    "hmdb51": ProxyDataset("hmdb_root", partial(official_layout, "hmdb51")),
    "ucf101": ProxyDataset("ucf_root", partial(official_layout, "ucf101")),
}
