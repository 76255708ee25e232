import re
import shutil
import subprocess
from pathlib import Path

import pytest

from core.data.action_datasets import (
    DatasetLayoutError,
    SplitFileFormatError,
    load_action_dataset,
    load_hmdb51,
    load_ucf101,
)

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the ffmpeg CLI is needed to make test videos")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """One real 1-second video with audio per container, copied wherever a tree needs a video."""
    out = tmp_path_factory.mktemp("clips")
    made = {}
    for ext, vcodec in (("avi", "mpeg4"), ("mp4", "libx264")):
        made[ext] = out / f"clip.{ext}"
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
             "-f", "lavfi", "-i", "testsrc=size=32x32:rate=8", "-f", "lavfi", "-i", "sine=frequency=440",
             "-t", "1", "-c:v", vcodec, "-pix_fmt", "yuv420p", "-c:a", "aac", str(made[ext])],
            check=True,
        )
    return made


HMDB_SPLITS = {
    # class -> {file: (tag fold1, tag fold2)}
    "brush_hair": {"a_brush_hair_0.avi": (1, 2), "b_brush_hair_1.avi": (2, 1), "c_brush_hair_2.avi": (0, 1)},
    "ride_bike": {"a_ride_bike_0.avi": (1, 1), "b_ride_bike_1.avi": (1, 0), "c_ride_bike_2.avi": (2, 2)},
    "wave": {"a_wave_0.mp4": (2, 1), "b_wave_1.mp4": (1, 2)},  # an .mp4 export named as such
}


def _make_hmdb(root: Path, clips: dict[str, Path]) -> Path:
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    for cls, files in HMDB_SPLITS.items():
        (root / "hmdb51_org" / cls).mkdir(parents=True)
        for name in files:
            shutil.copy(clips[name.rsplit(".", 1)[1]], root / "hmdb51_org" / cls / name)
        for fold in (1, 2):
            # the official files end every line with a space
            text = "".join(f"{name} {tags[fold - 1]} \n" for name, tags in files.items())
            (splits / f"{cls}_test_split{fold}.txt").write_text(text)
    return root


@pytest.fixture
def hmdb(tmp_path, clips) -> Path:
    return _make_hmdb(tmp_path / "hmdb", clips)


def _names(items):
    return [(i.path.name, i.label, i.class_name) for i in items]


def test_hmdb_fold1_and_fold2(hmdb):
    ds = load_hmdb51(hmdb, fold=1)
    assert ds.name == "hmdb51" and ds.fold == 1
    assert ds.classes == ("brush_hair", "ride_bike", "wave")
    assert _names(ds.train) == [
        ("a_brush_hair_0.avi", 0, "brush_hair"),
        ("a_ride_bike_0.avi", 1, "ride_bike"),
        ("b_ride_bike_1.avi", 1, "ride_bike"),
        ("b_wave_1.mp4", 2, "wave"),
    ]
    assert _names(ds.test) == [
        ("b_brush_hair_1.avi", 0, "brush_hair"),
        ("c_ride_bike_2.avi", 1, "ride_bike"),
        ("a_wave_0.mp4", 2, "wave"),
    ]
    assert ds.train[0].path == hmdb / "hmdb51_org" / "brush_hair" / "a_brush_hair_0.avi"
    assert all(i.path.is_file() for i in ds.train + ds.test)

    ds2 = load_action_dataset("hmdb51", hmdb, fold=2)
    assert {i.path.name for i in ds2.train} == {
        "b_brush_hair_1.avi", "c_brush_hair_2.avi", "a_ride_bike_0.avi", "a_wave_0.mp4"}
    assert {i.path.name for i in ds2.test} == {
        "a_brush_hair_0.avi", "c_ride_bike_2.avi", "b_wave_1.mp4"}


def test_hmdb_wrong_root_names_the_path(tmp_path):
    with pytest.raises(DatasetLayoutError, match="HMDB-51 root not found") as err:
        load_hmdb51(tmp_path / "nowhere")
    assert err.value.path == tmp_path / "nowhere"
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "empty" / "hmdb51_org"))):
        load_hmdb51(tmp_path / "empty")


def test_hmdb_missing_split_file_names_it(hmdb):
    expected = hmdb / "testTrainMulti_7030_splits" / "brush_hair_test_split3.txt"
    with pytest.raises(DatasetLayoutError, match="split file for class 'brush_hair'") as err:
        load_hmdb51(hmdb, fold=3)
    assert err.value.path == expected
    assert str(expected) in str(err.value)


def test_hmdb_split_file_without_class_folder(hmdb):
    (hmdb / "testTrainMulti_7030_splits" / "jump_test_split1.txt").write_text("x.avi 1\n")
    with pytest.raises(DatasetLayoutError, match=re.escape(str(hmdb / "hmdb51_org" / "jump"))):
        load_hmdb51(hmdb)


def test_hmdb_absent_video_is_named_with_its_split_line(hmdb):
    (hmdb / "hmdb51_org" / "ride_bike" / "b_ride_bike_1.avi").unlink()
    with pytest.raises(DatasetLayoutError, match="ride_bike_test_split1.txt line 2 is absent") as err:
        load_hmdb51(hmdb, fold=1)
    assert err.value.path == hmdb / "hmdb51_org" / "ride_bike" / "b_ride_bike_1.avi"
    load_hmdb51(hmdb, fold=2)  # tag 0 there: an unused video may be absent


def test_hmdb_extension_is_taken_from_the_split_file(hmdb):
    split = hmdb / "testTrainMulti_7030_splits" / "wave_test_split1.txt"
    split.write_text("a_wave_0.avi 2\nb_wave_1.mp4 1\n")  # only the .mp4 exists
    with pytest.raises(DatasetLayoutError) as err:
        load_hmdb51(hmdb)
    assert err.value.path == hmdb / "hmdb51_org" / "wave" / "a_wave_0.avi"


@pytest.mark.parametrize("bad", ["a_wave_0.mp4 3", "a_wave_0.mp4", "sub/a_wave_0.mp4 1"])
def test_hmdb_malformed_line_names_file_and_line(hmdb, bad):
    split = hmdb / "testTrainMulti_7030_splits" / "wave_test_split1.txt"
    split.write_text(f"b_wave_1.mp4 1\n\n{bad}\n")
    with pytest.raises(SplitFileFormatError, match=re.escape(f"{split}, line 3")) as err:
        load_hmdb51(hmdb)
    assert err.value.line == 3 and err.value.path == split


UCF_CLASSES = ["ApplyEyeMakeup", "Basketball", "YoYo"]
UCF_TRAIN = {1: ["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", "YoYo/v_YoYo_g09_c02.avi",
                 "Basketball/v_Basketball_g10_c01.avi"],
             2: ["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", "YoYo/v_YoYo_g01_c01.avi"]}
UCF_TEST = {1: ["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", "YoYo/v_YoYo_g01_c01.avi"],
            2: ["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", "YoYo/v_YoYo_g09_c02.avi",
                "Basketball/v_Basketball_g10_c01.avi"]}


@pytest.fixture
def ucf(tmp_path, clips) -> Path:
    root = tmp_path / "ucf"
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    for rel in set(UCF_TRAIN[1] + UCF_TEST[1]):
        (root / "UCF-101" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clips["avi"], root / "UCF-101" / rel)
    # the official lists use CRLF line endings
    (lists / "classInd.txt").write_bytes(
        "".join(f"{i} {c}\r\n" for i, c in enumerate(UCF_CLASSES, 1)).encode())
    for fold in (1, 2):
        (lists / f"trainlist0{fold}.txt").write_bytes("".join(
            f"{rel} {UCF_CLASSES.index(rel.split('/')[0]) + 1}\r\n" for rel in UCF_TRAIN[fold]).encode())
        (lists / f"testlist0{fold}.txt").write_bytes("".join(f"{rel}\r\n" for rel in UCF_TEST[fold]).encode())
    return root


def test_ucf_fold1_and_fold2(ucf):
    ds = load_ucf101(ucf)
    assert ds.name == "ucf101" and ds.classes == tuple(UCF_CLASSES)
    assert _names(ds.train) == [
        ("v_ApplyEyeMakeup_g08_c01.avi", 0, "ApplyEyeMakeup"),
        ("v_YoYo_g09_c02.avi", 2, "YoYo"),
        ("v_Basketball_g10_c01.avi", 1, "Basketball"),
    ]
    assert _names(ds.test) == [("v_ApplyEyeMakeup_g01_c01.avi", 0, "ApplyEyeMakeup"), ("v_YoYo_g01_c01.avi", 2, "YoYo")]
    assert ds.test[1].path == ucf / "UCF-101" / "YoYo" / "v_YoYo_g01_c01.avi"
    ds2 = load_action_dataset("ucf101", ucf, fold=2)
    assert len(ds2.train) == 2 and len(ds2.test) == 3


def test_ucf_wrong_root_and_missing_lists(ucf, tmp_path):
    with pytest.raises(DatasetLayoutError, match=re.escape(str(tmp_path / "nope"))):
        load_ucf101(tmp_path / "nope")
    (ucf / "ucfTrainTestlist" / "trainlist03.txt").write_text("")
    with pytest.raises(DatasetLayoutError, match=re.escape(str(ucf / "ucfTrainTestlist" / "testlist03.txt"))):
        load_ucf101(ucf, fold=3)
    (ucf / "ucfTrainTestlist" / "classInd.txt").unlink()
    with pytest.raises(DatasetLayoutError, match="classInd.txt"):
        load_ucf101(ucf)


def test_ucf_absent_video_is_named(ucf):
    video = ucf / "UCF-101" / "YoYo" / "v_YoYo_g01_c01.avi"
    video.unlink()
    with pytest.raises(DatasetLayoutError, match="testlist01.txt line 2 is absent") as err:
        load_ucf101(ucf)
    assert err.value.path == video


@pytest.mark.parametrize(
    ("name", "content", "line", "problem"),
    [
        ("trainlist01.txt", "YoYo/v_YoYo_g09_c02.avi 3\nYoYo/v_YoYo_g01_c01.avi 1\n", 2, "disagrees with classInd"),
        ("trainlist01.txt", "YoYo/v_YoYo_g09_c02.avi\n", 1, "expected '<Class>/<file> <label>'"),
        ("testlist01.txt", "YoYo/v_YoYo_g01_c01.avi\r\nJuggling/v_Juggling_g01_c01.avi\r\n", 2, "not in classInd"),
        ("testlist01.txt", "v_YoYo_g01_c01.avi\n", 1, "expected '<Class>/<file>'"),
        ("classInd.txt", "1 ApplyEyeMakeup\n3 Basketball\n", 2, "expected index 2"),
    ],
)
def test_ucf_malformed_lines_name_file_and_line(ucf, name, content, line, problem):
    path = ucf / "ucfTrainTestlist" / name
    path.write_text(content)
    with pytest.raises(SplitFileFormatError, match=problem) as err:
        load_ucf101(ucf)
    assert (err.value.path, err.value.line) == (path, line)
    assert str(err.value).startswith(f"{path}, line {line}:")


def test_unknown_dataset_name_and_fold(ucf):
    with pytest.raises(ValueError, match="known: hmdb51, ucf101"):
        load_action_dataset("kinetics", ucf)
    with pytest.raises(ValueError, match="fold must be one of"):
        load_ucf101(ucf, fold=4)
