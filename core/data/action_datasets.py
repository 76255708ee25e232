"""Index HMDB-51 and UCF-101 in their official layouts (paths and labels only; decoding is elsewhere).

HMDB-51::

    <root>/hmdb51_org/<class>/<file>.avi
    <root>/testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt   lines "<file>.avi <tag>"
                                                                     tag 1 = train, 2 = test, 0 = unused

UCF-101::

    <root>/UCF-101/<Class>/<file>.avi
    <root>/ucfTrainTestlist/classInd.txt            lines "<idx 1-based> <Class>"
    <root>/ucfTrainTestlist/trainlist0{1,2,3}.txt   lines "<Class>/<file>.avi <idx 1-based>"
    <root>/ucfTrainTestlist/testlist0{1,2,3}.txt    lines "<Class>/<file>.avi"

Video paths are taken literally from the split files, so an export with another extension (e.g. the
procedural world's .mp4 files) is accepted exactly when its split files name that extension. Every
listed video must exist; layout problems raise errors that name the offending path (and line).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import GDTSearchError

HMDB_VIDEO_DIR = "hmdb51_org"
HMDB_SPLIT_DIR = "testTrainMulti_7030_splits"
UCF_VIDEO_DIR = "UCF-101"
UCF_SPLIT_DIR = "ucfTrainTestlist"
FOLDS = (1, 2, 3)


class DatasetLayoutError(GDTSearchError, FileNotFoundError):
    """A directory, split file or listed video is missing; ``path`` is the one that was expected."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(f"{message}: {path}")
        self.path = Path(path)


class SplitFileFormatError(GDTSearchError, ValueError):
    """A split-file line cannot be parsed; ``path`` and ``line`` (1-based) locate it."""

    def __init__(self, path: Path, line: int, problem: str) -> None:
        super().__init__(f"{path}, line {line}: {problem}")
        self.path = Path(path)
        self.line = line


@dataclass(frozen=True)
class VideoItem:
    path: Path
    label: int  # 0-based index into ActionDataset.classes
    class_name: str


@dataclass(frozen=True)
class ActionDataset:
    """One official train/test fold of an action-recognition dataset."""

    name: str  # "hmdb51" or "ucf101"
    root: Path
    fold: int
    classes: tuple[str, ...]
    train: tuple[VideoItem, ...]
    test: tuple[VideoItem, ...]


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DatasetLayoutError(f"{what} not found", path)
    return path


def _require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DatasetLayoutError(f"{what} not found", path)
    return path


def _check_fold(fold: int) -> None:
    if fold not in FOLDS:
        raise ValueError(f"fold must be one of {FOLDS}, got {fold!r}")


def _lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank stripped lines with 1-based numbers (the official files have CRLF and trailing spaces)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _check_exist(items: list[tuple[VideoItem, Path, int]]) -> None:
    """Raise naming the first absent video (and its split-file line), with how many others are absent."""
    missing = [(item, src, n) for item, src, n in items if not item.path.is_file()]
    if missing:
        item, src, n = missing[0]
        more = f" ({len(missing) - 1} more listed videos are absent)" if len(missing) > 1 else ""
        raise DatasetLayoutError(f"video listed in {src} line {n} is absent{more}", item.path)


def load_hmdb51(root: str | Path, fold: int = 1) -> ActionDataset:
    """Index HMDB-51 fold ``fold``; classes are the class folders, sorted (label = position)."""
    _check_fold(fold)
    root = _require_dir(Path(root), "HMDB-51 root")
    video_dir = _require_dir(root / HMDB_VIDEO_DIR, "HMDB-51 video folder")
    split_dir = _require_dir(root / HMDB_SPLIT_DIR, "HMDB-51 split folder")
    classes = sorted(p.name for p in video_dir.iterdir() if p.is_dir())
    suffix = f"_test_split{fold}.txt"
    for split_file in sorted(split_dir.glob(f"*{suffix}")):
        _require_dir(video_dir / split_file.name[: -len(suffix)], f"class folder for split file {split_file.name}")
    if not classes:
        raise DatasetLayoutError("no class folders in HMDB-51 video folder", video_dir)
    train: list[tuple[VideoItem, Path, int]] = []
    test: list[tuple[VideoItem, Path, int]] = []
    for label, name in enumerate(classes):
        split_file = _require_file(split_dir / f"{name}{suffix}", f"split file for class {name!r}")
        for n, line in _lines(split_file):
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise SplitFileFormatError(split_file, n, f"expected '<file> <0|1|2>', got {line!r}")
            file_name, tag = parts
            if Path(file_name).name != file_name:
                raise SplitFileFormatError(split_file, n, f"expected a bare file name, got {file_name!r}")
            if tag != "0":
                entry = (VideoItem(video_dir / name / file_name, label, name), split_file, n)
                (train if tag == "1" else test).append(entry)
    _check_exist(train + test)
    return ActionDataset(
        "hmdb51", root, fold, tuple(classes), tuple(i for i, _, _ in train), tuple(i for i, _, _ in test)
    )


def _ucf_classes(class_ind: Path) -> list[str]:
    """Class names from classInd.txt, which must number them 1..N in order."""
    classes: list[str] = []
    for n, line in _lines(class_ind):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise SplitFileFormatError(class_ind, n, f"expected '<index> <Class>', got {line!r}")
        if int(parts[0]) != len(classes) + 1:
            raise SplitFileFormatError(class_ind, n, f"expected index {len(classes) + 1}, got {parts[0]}")
        classes.append(parts[1])
    if not classes:
        raise SplitFileFormatError(class_ind, 1, "no classes listed")
    return classes


def _ucf_item(list_file: Path, n: int, rel: str, video_dir: Path, index: dict[str, int]) -> VideoItem:
    class_name, _, file_name = rel.partition("/")
    if not file_name or "/" in file_name:
        raise SplitFileFormatError(list_file, n, f"expected '<Class>/<file>', got {rel!r}")
    if class_name not in index:
        raise SplitFileFormatError(list_file, n, f"class {class_name!r} is not in classInd.txt")
    return VideoItem(video_dir / class_name / file_name, index[class_name], class_name)


def load_ucf101(root: str | Path, fold: int = 1) -> ActionDataset:
    """Index UCF-101 fold ``fold``; labels follow classInd.txt (converted to 0-based)."""
    _check_fold(fold)
    root = _require_dir(Path(root), "UCF-101 root")
    video_dir = _require_dir(root / UCF_VIDEO_DIR, "UCF-101 video folder")
    split_dir = _require_dir(root / UCF_SPLIT_DIR, "UCF-101 split folder")
    classes = _ucf_classes(_require_file(split_dir / "classInd.txt", "UCF-101 class index"))
    index = {name: i for i, name in enumerate(classes)}
    train_file = _require_file(split_dir / f"trainlist0{fold}.txt", "UCF-101 train list")
    test_file = _require_file(split_dir / f"testlist0{fold}.txt", "UCF-101 test list")

    train: list[tuple[VideoItem, Path, int]] = []
    for n, line in _lines(train_file):
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2 or not parts[1].isdigit():
            raise SplitFileFormatError(train_file, n, f"expected '<Class>/<file> <label>', got {line!r}")
        item = _ucf_item(train_file, n, parts[0], video_dir, index)
        if int(parts[1]) != item.label + 1:
            raise SplitFileFormatError(
                train_file, n, f"label {parts[1]} disagrees with classInd.txt ({item.class_name} = {item.label + 1})"
            )
        train.append((item, train_file, n))
    test: list[tuple[VideoItem, Path, int]] = []
    for n, line in _lines(test_file):
        if len(line.split()) != 1:
            raise SplitFileFormatError(test_file, n, f"expected '<Class>/<file>', got {line!r}")
        test.append((_ucf_item(test_file, n, line, video_dir, index), test_file, n))
    _check_exist(train + test)
    return ActionDataset(
        "ucf101", root, fold, tuple(classes), tuple(i for i, _, _ in train), tuple(i for i, _, _ in test)
    )


LOADERS = {"hmdb51": load_hmdb51, "ucf101": load_ucf101}


def load_action_dataset(name: str, root: str | Path, fold: int = 1) -> ActionDataset:
    """Dispatch by dataset name ("hmdb51" or "ucf101")."""
    if name not in LOADERS:
        raise ValueError(f"unknown action dataset {name!r}; known: {', '.join(sorted(LOADERS))}")
    return LOADERS[name](root, fold)


VIDEO_DIRS = {"hmdb51": HMDB_VIDEO_DIR, "ucf101": UCF_VIDEO_DIR}


def official_split_tags(name: str, root: str | Path, folds: tuple[int, ...] = (1, 2, 3)) -> tuple[Path, dict]:
    """The dataset's video folder and, per video path relative to it, its HMDB-style tag in each fold.

    Tags: 1 = train, 2 = test, 0 = not in that fold. This is how the clip cache stores the official
    splits, so that one decoded cache serves every fold.
    """
    video_dir = Path(root) / VIDEO_DIRS[name]
    tags: dict[str, list[int]] = {}
    for position, fold in enumerate(folds):
        dataset = load_action_dataset(name, root, fold)
        for part, tag in ((dataset.train, 1), (dataset.test, 2)):
            for item in part:
                tags.setdefault(item.path.relative_to(video_dir).as_posix(), [0] * len(folds))[position] = tag
    return video_dir, tags
