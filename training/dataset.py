"""Labelled image sets described by a `.lst` file (the SageMaker image-classification list format).

A `.lst` has one tab-separated row per image: `index <TAB> label <TAB> relative/path.png`, with
label 0=bicycle, 1=motorcycle. A dataset is a folder DIR plus a list (default DIR/train.lst).
Image paths are relative to DIR/<list name without .lst>/ when that folder exists (train.lst ->
DIR/train/, test.lst -> DIR/test/: what `training.etl` writes), otherwise to DIR itself (so a
custom list can name `train/x.png`). Every row is checked up front so a bad dataset fails with the
file and line at fault rather than mid-training.

A folder may instead (or also) hold reviewer labels in the layout of `scones_contracts.labels`
(`lists/*.lst` fragments of one row each, paths relative to the folder): `dataset_lists` finds every
list of a folder and `load_folders` reads several folders as one dataset (`scones train --data A --data B`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from scones_contracts.classes import CLASS_NAMES
from scones_contracts.labels import LABEL_LISTS_DIR, LIST_SUFFIX
from training.constants import INPUT_SIZE
from training.imaging import ImageDecodeError, prepare_image


class DatasetError(ValueError):
    """The dataset (list file or images) is malformed; the message names the file and line."""


@dataclass(frozen=True)
class ListEntry:
    """One row of a .lst file."""
    index: int
    label: int
    relative_path: str
    line_number: int


@dataclass
class LabeledImages:
    """Decoded images held in memory: uint8 (N, 3, H, W), int64 labels, and where they came from."""
    images: torch.Tensor
    labels: torch.Tensor
    files: list[Path]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, int]:
        return self.images[item], int(self.labels[item])

    def subset(self, indices: torch.Tensor | list[int]) -> "LabeledImages":
        indices = torch.as_tensor(indices, dtype=torch.long)
        return LabeledImages(self.images[indices], self.labels[indices], [self.files[i] for i in indices.tolist()])

    def class_counts(self) -> dict[str, int]:
        counts = torch.bincount(self.labels, minlength=len(CLASS_NAMES)).tolist()
        return {name: int(n) for name, n in zip(CLASS_NAMES, counts)}


def read_list_file(lst_path: Path) -> list[ListEntry]:
    """Parse and validate a .lst file (format, labels, duplicate indices, safe relative paths)."""
    lst_path = Path(lst_path)
    if not lst_path.is_file():
        raise DatasetError(f"{lst_path}: list file not found")
    entries: list[ListEntry] = []
    seen_indices: dict[int, int] = {}
    text = lst_path.read_text(encoding="utf-8")
    for line_number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{lst_path}:{line_number}"
        fields = raw.rstrip("\r").split("\t")
        if len(fields) != 3:
            raise DatasetError(f"{where}: expected 3 tab-separated fields (index, label, path), got {len(fields)}: {raw!r}")
        index_text, label_text, rel = (f.strip() for f in fields)
        try:
            index = int(index_text)
        except ValueError:
            raise DatasetError(f"{where}: index {index_text!r} is not an integer") from None
        try:
            label_value = float(label_text)  # SageMaker writes labels as "1.000000"
        except ValueError:
            label_value = float("nan")
        if not label_value.is_integer():
            raise DatasetError(f"{where}: label {label_text!r} is not an integer")
        label = int(label_value)
        if not 0 <= label < len(CLASS_NAMES):
            raise DatasetError(f"{where}: label {label} out of range; expected 0..{len(CLASS_NAMES) - 1} ({', '.join(CLASS_NAMES)})")
        path = PurePosixPath(rel.replace("\\", "/"))
        if not rel or path.is_absolute() or ".." in path.parts:
            raise DatasetError(f"{where}: image path {rel!r} must be a non-empty path inside the image folder")
        if index in seen_indices:
            raise DatasetError(f"{where}: duplicate index {index} (first on line {seen_indices[index]})")
        seen_indices[index] = line_number
        entries.append(ListEntry(index, label, str(path), line_number))
    if not entries:
        raise DatasetError(f"{lst_path}: list file has no rows")
    return entries


def image_root_for(data_dir: Path, lst_path: Path) -> Path:
    """Folder the list's paths are relative to: `<data_dir>/<list stem>/` if it exists, else data_dir."""
    named = Path(data_dir) / Path(lst_path).stem
    return named if named.is_dir() else Path(data_dir)


def resolve_list_path(data_dir: Path, lst: Path | str | None = None) -> Path:
    """`--lst` as given, else relative to the data dir; default `<data_dir>/train.lst`."""
    data_dir = Path(data_dir)
    if lst is None:
        return data_dir / "train.lst"
    lst = Path(lst)
    if lst.is_absolute() or lst.exists():
        return lst
    return data_dir / lst


@dataclass(frozen=True)
class DatasetList:
    """One list file and the folder its image paths are relative to."""
    path: Path
    image_root: Path


def dataset_lists(data_dir: Path | str, lst: Path | str | None = None) -> list[DatasetList]:
    """Every list of a dataset folder: `lst` if given; otherwise `train.lst` if present, then the label
    fragments `lists/*.lst` in name order (their paths relative to the folder itself)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DatasetError(f"{data_dir}: data directory not found")
    if lst is not None:
        path = resolve_list_path(data_dir, lst)
        return [DatasetList(path, image_root_for(data_dir, path))]
    found = []
    train = resolve_list_path(data_dir, None)
    if train.is_file():
        found.append(DatasetList(train, image_root_for(data_dir, train)))
    fragments = data_dir / LABEL_LISTS_DIR
    if fragments.is_dir():
        found += [DatasetList(path, data_dir) for path in sorted(fragments.glob(f"*{LIST_SUFFIX}")) if path.is_file()]
    if not found:
        raise DatasetError(f"{data_dir}: no train.lst and no {LABEL_LISTS_DIR}/*{LIST_SUFFIX} label fragments; "
                           "a dataset folder needs one or the other")
    return found


def _decode_rows(rows: list[tuple[DatasetList, ListEntry]], size: int) -> LabeledImages:
    pixels = np.empty((len(rows), size, size, 3), dtype=np.uint8)
    files: list[Path] = []
    for i, (source, entry) in enumerate(rows):
        path = source.image_root / entry.relative_path
        where = f"{source.path}:{entry.line_number}"
        if not path.is_file():
            raise DatasetError(f"{where}: image {entry.relative_path!r} not found in {source.image_root}")
        try:
            pixels[i] = prepare_image(path.read_bytes(), size)
        except ImageDecodeError as exc:
            raise DatasetError(f"{where}: image {entry.relative_path!r} cannot be read: {exc}") from exc
        files.append(path)
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor([entry.label for _, entry in rows], dtype=torch.long)
    return LabeledImages(images, labels, files)


def _rows(lists: list[DatasetList]) -> list[tuple[DatasetList, ListEntry]]:
    """Every row of `lists`, in order; label fragments of one folder share one index space, so a
    duplicate index across them is an error naming both files."""
    rows: list[tuple[DatasetList, ListEntry]] = []
    fragment_indices: dict[tuple[Path, int], str] = {}
    for source in lists:
        for entry in read_list_file(source.path):
            if source.path.parent.name == LABEL_LISTS_DIR:
                where = f"{source.path}:{entry.line_number}"
                first = fragment_indices.setdefault((source.image_root, entry.index), where)
                if first != where:
                    raise DatasetError(f"{where}: duplicate index {entry.index} (first in {first})")
            rows.append((source, entry))
    return rows


def load_labeled_images(data_dir: Path | str, lst: Path | str | None = None, size: int = INPUT_SIZE) -> LabeledImages:
    """Read a folder's lists (`dataset_lists`) and decode every image they name (through the serving
    preprocessing)."""
    return _decode_rows(_rows(dataset_lists(data_dir, lst)), size)


def load_folders(data_dirs: list[Path | str], lst: Path | str | None = None,
                 size: int = INPUT_SIZE) -> tuple[LabeledImages, list[Path]]:
    """Several dataset folders as one dataset, in the order given; also returns every list file read.
    `lst` names the list of a single folder (with several folders each uses its own lists)."""
    if not data_dirs:
        raise DatasetError("no dataset folder given")
    if lst is not None and len(data_dirs) > 1:
        raise DatasetError(f"--lst names the list of one folder; with {len(data_dirs)} --data folders each "
                           "folder's own train.lst and label fragments are read")
    lists = [source for folder in data_dirs for source in dataset_lists(folder, lst)]
    return _decode_rows(_rows(lists), size), [source.path for source in lists]


def stratified_split(labels: torch.Tensor, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train_indices, val_indices), each class split in the same proportion; deterministic per seed."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    generator = torch.Generator().manual_seed(seed)
    train_parts, val_parts = [], []
    for cls in range(len(CLASS_NAMES)):
        members = torch.nonzero(labels == cls).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_val = int(round(len(members) * val_fraction))
        if len(members) >= 2:
            n_val = min(max(n_val, 1), len(members) - 1)
        val_parts.append(members[:n_val])
        train_parts.append(members[n_val:])
    return torch.sort(torch.cat(train_parts)).values, torch.sort(torch.cat(val_parts)).values
