"""The .lst dataset reader: good data loads; every kind of bad row or file fails naming file and line."""
from __future__ import annotations

import pytest
import torch

from training.constants import SAMPLE_DATA_DIR
from training.dataset import DatasetError, load_labeled_images, read_list_file, stratified_split


def write_dataset(root, rows: list[str], images: dict[str, bytes] | None = None):
    (root / "train").mkdir(parents=True, exist_ok=True)
    for name, content in (images or {}).items():
        (root / "train" / name).write_bytes(content)
    (root / "train.lst").write_text("".join(rows))
    return root


def test_sample_data_loads_balanced(sample_entries):
    data = load_labeled_images(SAMPLE_DATA_DIR)
    assert data.images.shape == (1000, 3, 32, 32) and data.images.dtype == torch.uint8
    assert data.class_counts() == {"bicycle": 500, "motorcycle": 500}
    assert [f.name for f in data.files[:3]] == [e.relative_path for e in sample_entries[:3]]


def test_sagemaker_style_float_labels_are_accepted(tmp_path, sample_png_bytes):
    root = write_dataset(tmp_path, ["7\t1.000000\ta.png\n", "8\t0\tb.png\n"], {"a.png": sample_png_bytes, "b.png": sample_png_bytes})
    data = load_labeled_images(root)
    assert data.labels.tolist() == [1, 0]


@pytest.mark.parametrize("bad_row, message", [
    ("3\t1\n", "expected 3 tab-separated fields"),
    ("3 1 a.png\n", "expected 3 tab-separated fields"),
    ("x\t1\ta.png\n", "index 'x' is not an integer"),
    ("3\tcar\ta.png\n", "label 'car' is not an integer"),
    ("3\t0.5\ta.png\n", "label '0.5' is not an integer"),
    ("3\t2\ta.png\n", "label 2 out of range"),
    ("3\t1\t/etc/passwd\n", "must be a non-empty path inside"),
    ("3\t1\t../a.png\n", "must be a non-empty path inside"),
    ("1\t1\ta.png\n", "duplicate index 1 (first on line 1)"),
])
def test_bad_rows_name_file_and_line(tmp_path, sample_png_bytes, bad_row, message):
    root = write_dataset(tmp_path, ["1\t0\ta.png\n", "\n", bad_row], {"a.png": sample_png_bytes})
    with pytest.raises(DatasetError) as caught:
        read_list_file(root / "train.lst")
    assert f"{root / 'train.lst'}:3:" in str(caught.value)
    assert message in str(caught.value)


def test_missing_image_names_file_line_and_folder(tmp_path, sample_png_bytes):
    root = write_dataset(tmp_path, ["1\t0\ta.png\n", "2\t1\tmissing.png\n"], {"a.png": sample_png_bytes})
    with pytest.raises(DatasetError, match=r"train\.lst:2: image 'missing.png' not found in .*train"):
        load_labeled_images(root)


def test_corrupt_image_names_file_and_line(tmp_path, sample_png_bytes):
    root = write_dataset(tmp_path, ["1\t0\ta.png\n", "2\t1\tb.png\n"],
                         {"a.png": sample_png_bytes, "b.png": sample_png_bytes[:40]})
    with pytest.raises(DatasetError, match=r"train\.lst:2: image 'b.png' cannot be read"):
        load_labeled_images(root)


def test_missing_or_empty_list_and_missing_dir(tmp_path):
    with pytest.raises(DatasetError, match=r"no train\.lst and no lists/\*\.lst label fragments"):
        load_labeled_images(tmp_path)
    with pytest.raises(DatasetError, match="list file not found"):
        load_labeled_images(tmp_path, "other.lst")
    write_dataset(tmp_path, ["\n"])
    with pytest.raises(DatasetError, match="no rows"):
        load_labeled_images(tmp_path)
    with pytest.raises(DatasetError, match="data directory not found"):
        load_labeled_images(tmp_path / "nope")


def test_list_next_to_images_without_named_folder(tmp_path, sample_png_bytes):
    (tmp_path / "a.png").write_bytes(sample_png_bytes)
    (tmp_path / "custom.lst").write_text("0\t1\ta.png\n")
    data = load_labeled_images(tmp_path, "custom.lst")
    assert len(data) == 1 and data.files[0] == tmp_path / "a.png"


def test_stratified_split_keeps_class_ratio_and_is_seeded():
    labels = torch.tensor([0] * 60 + [1] * 40)
    train, val = stratified_split(labels, 0.25, seed=1)
    assert torch.bincount(labels[val]).tolist() == [15, 10]
    assert len(set(train.tolist()) | set(val.tolist())) == 100 and not set(train.tolist()) & set(val.tolist())
    again_train, again_val = stratified_split(labels, 0.25, seed=1)
    assert torch.equal(val, again_val) and torch.equal(train, again_train)
    assert not torch.equal(val, stratified_split(labels, 0.25, seed=2)[1])
    with pytest.raises(ValueError):
        stratified_split(labels, 1.0, seed=1)


# -- reviewer labels (scones_contracts.labels layout) and several folders -------------------------------
def test_labels_folder_of_fragments_loads_with_its_labels(tmp_path, sample_png_bytes):
    from PIL import Image

    from tests.training.training_test_support import encode, write_labels_folder

    jpeg = encode(Image.new("RGB", (640, 480), (200, 30, 30)), "JPEG")
    root = write_labels_folder(tmp_path / "labels", [("r1", "motorcycle", sample_png_bytes), ("r2", "bicycle", jpeg)])
    data = load_labeled_images(root)
    assert data.labels.tolist() == [1, 0]
    assert [f.relative_to(root).as_posix() for f in data.files] == ["images/r1.png", "images/r2.jpg"]
    assert data.images.shape == (2, 3, 32, 32)


def test_a_folder_with_train_lst_and_fragments_reads_both(tmp_path, sample_png_bytes):
    from tests.training.training_test_support import write_labels_folder

    root = write_dataset(tmp_path, ["1\t0\ta.png\n"], {"a.png": sample_png_bytes})
    write_labels_folder(root, [("r9", "motorcycle", sample_png_bytes)])
    data = load_labeled_images(root)
    assert data.labels.tolist() == [0, 1] and data.files == [root / "train" / "a.png", root / "images" / "r9.png"]


def test_several_folders_load_as_one_dataset_in_order(tmp_path, sample_png_bytes):
    from tests.training.training_test_support import write_labels_folder
    from training.dataset import load_folders

    first = write_dataset(tmp_path / "a", ["1\t0\ta.png\n", "2\t1\tb.png\n"], {"a.png": sample_png_bytes, "b.png": sample_png_bytes})
    labels = write_labels_folder(tmp_path / "labels", [("x", "bicycle", sample_png_bytes)])
    data, lists = load_folders([first, labels])
    assert data.labels.tolist() == [0, 1, 0]
    assert lists == [first / "train.lst", labels / "lists" / "x.lst"]
    with pytest.raises(DatasetError, match="--lst names the list of one folder"):
        load_folders([first, labels], lst="train.lst")


def test_duplicate_fragment_index_names_both_fragments(tmp_path, sample_png_bytes):
    from tests.training.training_test_support import write_labels_folder

    root = write_labels_folder(tmp_path, [("a", "bicycle", sample_png_bytes), ("b", "bicycle", sample_png_bytes)])
    (root / "lists" / "b.lst").write_text((root / "lists" / "a.lst").read_text().replace("images/a.png", "images/b.png"))
    with pytest.raises(DatasetError, match=r"b\.lst:1: duplicate index \d+ \(first in .*a\.lst:1\)"):
        load_labeled_images(root)


def test_bad_fragment_and_missing_example_image_name_the_fragment(tmp_path, sample_png_bytes):
    from tests.training.training_test_support import write_labels_folder

    root = write_labels_folder(tmp_path, [("a", "bicycle", sample_png_bytes)])
    (root / "images" / "a.png").unlink()
    with pytest.raises(DatasetError, match=r"lists/a\.lst:1: image 'images/a.png' not found"):
        load_labeled_images(root)
    (root / "lists" / "a.lst").write_text("5\t7\timages/a.png\n")
    with pytest.raises(DatasetError, match=r"lists/a\.lst:1: label 7 out of range"):
        load_labeled_images(root)
