"""Extract the bicycle and motorcycle classes from the official CIFAR-100 python archive.

Input: `cifar-100-python.tar.gz` holding `cifar-100-python/train` and `.../test` pickles
(b'data' N x 3072 uint8 channel-major, b'fine_labels', b'filenames'). Output, per split:
`<split>/<filename>.png` and `<split>.lst` (index TAB label TAB filename; 0=bicycle, 1=motorcycle),
the layout `training.dataset` reads. The archive is read as a stream; nothing is unpickled from
outside the two expected members.
"""
from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from scones_contracts.classes import CLASS_NAMES

CIFAR100_FINE_LABELS = {8: 0, 48: 1}  # CIFAR-100 fine label -> our label (bicycle, motorcycle)
SPLITS = ("train", "test")


class _CifarUnpickler(pickle.Unpickler):
    """The CIFAR pickles hold only dicts, lists, bytes, ints and numpy arrays; refuse anything else.

    (`_codecs.encode` is how protocol-2 pickles written by Python 3 rebuild bytes.)
    """

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in CIFAR pickle")


def _load_split(archive: tarfile.TarFile, split: str) -> dict:
    member_name = f"cifar-100-python/{split}"
    try:
        member = archive.getmember(member_name)
    except KeyError:
        raise ValueError(f"{archive.name}: missing member {member_name!r}; is this cifar-100-python.tar.gz?") from None
    handle = archive.extractfile(member)
    if handle is None:
        raise ValueError(f"{archive.name}: {member_name!r} is not a regular file")
    batch = _CifarUnpickler(io.BytesIO(handle.read()), encoding="bytes").load()
    for key in (b"data", b"fine_labels", b"filenames"):
        if key not in batch:
            raise ValueError(f"{archive.name}: {member_name!r} has no {key!r} entry")
    return batch


def _safe_png_name(raw: bytes | str) -> str:
    name = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    name = PurePosixPath(name.replace("\\", "/")).name
    if not name or name in (".", ".."):
        raise ValueError(f"unusable image filename {raw!r}")
    return name if name.lower().endswith(".png") else f"{name}.png"


def write_split(batch: dict, split: str, out_dir: Path) -> dict[str, int]:
    """Write one split's bicycle/motorcycle images as PNG plus `<split>.lst`; returns class counts."""
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    fine_labels = list(batch[b"fine_labels"])
    filenames = list(batch[b"filenames"])
    if data.ndim != 2 or data.shape[1] != 3072 or not (len(data) == len(fine_labels) == len(filenames)):
        raise ValueError(f"{split}: inconsistent CIFAR batch (data {data.shape}, "
                         f"{len(fine_labels)} labels, {len(filenames)} filenames)")
    image_dir = out_dir / split
    image_dir.mkdir(parents=True, exist_ok=True)
    rows, counts = [], {name: 0 for name in CLASS_NAMES}
    for index, (row, fine, raw_name) in enumerate(zip(data, fine_labels, filenames)):
        label = CIFAR100_FINE_LABELS.get(int(fine))
        if label is None:
            continue
        name = _safe_png_name(raw_name)
        pixels = row.reshape(3, 32, 32).transpose(1, 2, 0)  # channel-major -> HWC
        Image.fromarray(np.ascontiguousarray(pixels), "RGB").save(image_dir / name, format="PNG")
        rows.append(f"{index}\t{label}\t{name}\n")
        counts[CLASS_NAMES[label]] += 1
    (out_dir / f"{split}.lst").write_text("".join(rows), encoding="utf-8")
    return counts


def extract_bicycle_motorcycle(archive_path: Path | str, out_dir: Path | str) -> dict[str, dict[str, int]]:
    """Archive -> out_dir/{train,test}/*.png + {train,test}.lst; returns class counts per split."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    with tarfile.open(archive_path, "r:*") as archive:
        for split in SPLITS:
            counts[split] = write_split(_load_split(archive, split), split, out_dir)
    return counts
