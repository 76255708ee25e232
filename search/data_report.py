"""What a study's data left out or kept damaged: the files its clip caches skipped, and the truncated ones.

A study on real folders reports, for its pretraining and its proxy dataset, how many videos it uses,
every file skipped and why (corrupt, no audio, too short, a directory or broken link with a video's
name), and every file kept although it decodes to much less than its header declares. Paths, in the
reasons too, are relative to the dataset's folder (a file outside it by its name only), so the report
names files without showing where the server keeps them. The procedural world skips nothing: its report is None.
"""

from __future__ import annotations

import os
import re

from core.data.clip_cache import ClipCache
from search.spec import StudySpec


def data_report(spec: StudySpec) -> dict | None:
    """{"pretrain": {...}, "proxy": {...}} for a study on folders (opening, and on first use building, its
    clip caches), or None for the world."""
    if spec.data.kind != "folders":
        return None
    from core.trial import open_data

    pretrain, proxy = open_data(spec.data_spec())
    return {"pretrain": _dataset(pretrain), "proxy": _dataset(proxy.source)}


def _dataset(cache: ClipCache) -> dict:
    root = str(cache.meta.get("source", ""))

    def relative(path: str) -> str:
        inside = root and os.path.commonpath([os.path.abspath(path), os.path.abspath(root)]) == os.path.abspath(root)
        return os.path.relpath(os.path.abspath(path), os.path.abspath(root)) if inside else os.path.basename(path)

    def scrub(reason: str) -> str:  # decoder messages quote absolute paths too
        return _ABSOLUTE.sub(lambda m: relative(m.group(0)), reason)

    return {
        "videos": cache.num_videos,
        "skipped": [{"path": relative(s.path), "reason": scrub(s.reason)} for s in cache.report],
        "truncated": [{"path": relative(s.path), "reason": scrub(s.reason)} for s in cache.truncated],
    }


_ABSOLUTE = re.compile(r"(?<![\w.])/[^\s:()'\"]+")


def describe(report: dict | None, shown: int = 5) -> list[str]:
    """One line per dataset with something to report, then its first `shown` files; [] when all is well."""
    lines: list[str] = []
    for name, dataset in (report or {}).items():
        skipped, truncated = dataset["skipped"], dataset["truncated"]
        if not skipped and not truncated:
            continue
        lines.append(
            f"{name} data: {dataset['videos']} videos used, {len(skipped)} files skipped,"
            f" {len(truncated)} truncated files kept"
        )
        for item in (skipped + truncated)[:shown]:
            lines.append(f"  {item['path']}: {item['reason']}")
        if len(skipped) + len(truncated) > shown:
            lines.append(f"  ... and {len(skipped) + len(truncated) - shown} more")
    return lines
