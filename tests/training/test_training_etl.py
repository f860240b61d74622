"""ETL from a CIFAR-100 python archive built by the test in the official format."""
from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np
import pytest
from PIL import Image

from training.dataset import load_labeled_images, read_list_file
from training.etl import extract_bicycle_motorcycle


def cifar_batch(fine_labels: list[int], seed: int) -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(len(fine_labels), 3072), dtype=np.uint8)
    batch = {b"data": data, b"fine_labels": fine_labels, b"coarse_labels": [0] * len(fine_labels),
             b"filenames": [f"img_{seed}_{i:04d}.png".encode() for i in range(len(fine_labels))],
             b"batch_label": b"synthetic"}
    return batch, data


def build_archive(path, splits: dict[str, dict]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for split, batch in splits.items():
            payload = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-100-python/{split}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))


def test_extracts_only_bicycles_and_motorcycles_with_correct_pixels(tmp_path):
    train, train_pixels = cifar_batch([8, 3, 48, 8, 99, 48, 48], seed=1)
    test, _ = cifar_batch([48, 8, 0], seed=2)
    build_archive(tmp_path / "cifar-100-python.tar.gz", {"train": train, "test": test})

    counts = extract_bicycle_motorcycle(tmp_path / "cifar-100-python.tar.gz", tmp_path / "out")

    assert counts == {"train": {"bicycle": 2, "motorcycle": 3}, "test": {"bicycle": 1, "motorcycle": 1}}
    rows = (tmp_path / "out" / "train.lst").read_text().splitlines()
    assert rows[0] == "0\t0\timg_1_0000.png" and rows[1] == "2\t1\timg_1_0002.png"
    assert [e.label for e in read_list_file(tmp_path / "out" / "train.lst")] == [0, 1, 0, 1, 1]
    written = np.asarray(Image.open(tmp_path / "out" / "train" / "img_1_0002.png"))
    assert written.shape == (32, 32, 3)
    assert np.array_equal(written, train_pixels[2].reshape(3, 32, 32).transpose(1, 2, 0))
    test_set = load_labeled_images(tmp_path / "out", "test.lst")
    assert test_set.labels.tolist() == [1, 0]


def test_archive_without_expected_member_is_reported(tmp_path):
    train, _ = cifar_batch([8], seed=1)
    build_archive(tmp_path / "partial.tar.gz", {"train": train})
    with pytest.raises(ValueError, match="missing member 'cifar-100-python/test'"):
        extract_bicycle_motorcycle(tmp_path / "partial.tar.gz", tmp_path / "out")


def test_pickle_with_unexpected_objects_is_refused(tmp_path):
    class Sneaky:
        def __reduce__(self):
            return (print, ("owned",))

    build_archive(tmp_path / "evil.tar.gz", {"train": {b"data": Sneaky()}, "test": {}})
    with pytest.raises(pickle.UnpicklingError, match="unexpected object"):
        extract_bicycle_motorcycle(tmp_path / "evil.tar.gz", tmp_path / "out")
