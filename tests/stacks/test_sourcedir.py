"""sourcedir: the deterministic training-code tarball and the content hashes."""
from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

from scones_contracts.source_files import files_sha256
from stacks import sourcedir
from tests.stacks.model_support import built  # noqa: F401


def test_sourcedir_is_deterministic_and_has_the_entry_point_at_its_root(built):
    files = sourcedir.training_source_files()
    first, second = sourcedir.sourcedir_bytes(files), sourcedir.sourcedir_bytes(files)
    assert first == second
    assert first[4:8] == b"\0\0\0\0", "gzip header mtime is zero"
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as archive:
        members = archive.getmembers()
    names = [m.name for m in members]
    # SageMaker's entry point at the root, beside the training code set laid out as in the repo
    assert "train.py" in names and "training/__init__.py" in names
    assert {"scones_contracts/__init__.py", "scones_imaging/decode.py"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert {m.mtime for m in members} == {0} and {m.uid for m in members} == {0}
    staged = list(Path(built.outdir).glob(f"asset.{built.model.training.code_asset.asset_hash}*.gz"))
    assert len(staged) == 1 and staged[0].read_bytes() == first, "the staged asset is exactly these bytes"
    assert gzip.decompress(first)  # a valid gzip stream


def test_code_hash_covers_every_packaged_file(tmp_path):
    files = sourcedir.training_source_files()
    base = files_sha256(files, sourcedir.SOURCEDIR_FORMAT)
    assert base == files_sha256(list(files), sourcedir.SOURCEDIR_FORMAT)
    changed = tmp_path / "train.py"
    changed.write_bytes(dict(files)["train.py"].read_bytes() + b"\n# changed\n")
    edited = [(name, changed if name == "train.py" else path) for name, path in files]
    assert files_sha256(edited, sourcedir.SOURCEDIR_FORMAT) != base
