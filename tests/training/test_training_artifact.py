"""model.tar.gz: SageMaker layout, metadata, the drift baseline's exact schema, readers, and the shim."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest
import torch

from scones_contracts.classes import CLASS_NAMES
from scones_contracts.source_files import training_code_sha256
from training.artifact import (
    ArtifactError,
    extracted_artifact,
    load_baseline,
    load_classifier,
    load_metadata,
    load_state_dict,
)
from training.constants import NORMALIZE_MEAN, NORMALIZE_STD
from training.fingerprint import CODE_ROOT


def test_tar_has_the_sagemaker_layout_with_fixed_member_metadata(tiny_model_path):
    with tarfile.open(tiny_model_path, "r:gz") as archive:
        members = archive.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    for required in ("model.pth", "metadata.json", "baseline.json", "code/inference.py",
                     "code/training/__init__.py", "code/training/serve.py", "code/training/imaging.py",
                     "code/scones_contracts/__init__.py", "code/scones_imaging/decode.py"):
        assert required in names
    assert not any("__pycache__" in n or n.startswith("/") or ".." in n for n in names)
    assert {(m.mtime, m.uid, m.gid) for m in members} == {(0, 0, 0)}
    assert tiny_model_path.read_bytes()[4:8] == b"\x00\x00\x00\x00"  # gzip header mtime


def test_metadata_describes_model_preprocessing_calibration_and_provenance(tiny_run, tiny_model_path):
    metadata = load_metadata(tiny_model_path)
    assert metadata == tiny_run.metadata
    assert metadata["class_names"] == list(CLASS_NAMES)
    assert metadata["input_size"] == [32, 32]
    assert metadata["normalization"] == {"mean": list(NORMALIZE_MEAN), "std": list(NORMALIZE_STD)}
    assert metadata["temperature"] == tiny_run.result.classifier.temperature
    assert metadata["hyperparameters"]["seed"] == 0 and metadata["hyperparameters"]["width"] == 8
    for key in ("accuracy", "coverage", "selective_accuracy", "ece", "confusion", "n"):
        assert key in metadata["validation"]
    fingerprint = metadata["fingerprint"]
    assert all(len(fingerprint[k]) == 64 for k in ("sha256", "data_sha256", "code_sha256"))
    # the same identity of "the training code" as the training job's name uses (stacks/sourcedir.py)
    assert fingerprint["code_sha256"] == training_code_sha256(CODE_ROOT)
    assert metadata["model_version"].startswith("r9-") and len(metadata["model_version"]) == 15


def test_baseline_has_exactly_the_drift_checker_schema(tiny_run, tiny_model_path):
    assert load_baseline(tiny_model_path) == tiny_run.baseline
    baseline = tiny_run.baseline.to_dict()
    assert set(baseline) == {"version", "source", "threshold", "class_names", "top_confidence", "predicted",
                             "class_counts"}
    assert baseline["version"] == 1 and baseline["source"] == "validation" and baseline["threshold"] == 0.93
    assert baseline["class_names"] == ["bicycle", "motorcycle"]
    n_val = tiny_run.metadata["training_data"]["n_validation"]
    assert len(baseline["top_confidence"]) == len(baseline["predicted"]) == n_val
    assert all(isinstance(c, float) and 0.5 <= c <= 1.0 for c in baseline["top_confidence"])
    assert set(baseline["predicted"]) <= {"bicycle", "motorcycle"}
    assert baseline["class_counts"] == {name: baseline["predicted"].count(name) for name in CLASS_NAMES}
    coverage = np.mean(np.array(baseline["top_confidence"]) >= 0.93)
    assert coverage == pytest.approx(tiny_run.metadata["validation"]["coverage"])


def test_tar_and_extracted_dir_load_to_the_same_classifier(tiny_model_path):
    classifier, metadata = load_classifier(tiny_model_path)
    with extracted_artifact(tiny_model_path) as directory:
        assert (directory / "code" / "inference.py").is_file()
        same, same_metadata = load_classifier(directory)
        state = load_state_dict(directory)
    assert metadata == same_metadata
    x = torch.randn(3, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(classifier(x), same(x))
    assert set(state) == set(classifier.network.state_dict())


def test_readers_name_the_problem(tmp_path):
    (tmp_path / "model.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(ArtifactError, match="model.tar.gz"):
        load_metadata(tmp_path / "model.tar.gz")
    with pytest.raises(ArtifactError, match="baseline.json"):
        load_baseline(tmp_path)


def test_inference_shim_serves_from_extracted_code_only(tiny_model_path, sample_png_bytes, tmp_path):
    """What the SageMaker container does: import code/inference.py and call the four handlers."""
    with tarfile.open(tiny_model_path, "r:gz") as archive:
        archive.extractall(tmp_path / "model", filter="data")
    (tmp_path / "request.png").write_bytes(sample_png_bytes)
    script = (
        "import json, sys\n"
        "sys.path.insert(0, sys.argv[1] + '/code')\n"
        "import inference, training, scones_contracts, scones_imaging\n"
        "for package in (training, scones_contracts, scones_imaging):\n"
        "    assert package.__file__.startswith(sys.argv[1]), package.__file__\n"
        "model = inference.model_fn(sys.argv[1])\n"
        "body = open(sys.argv[2], 'rb').read()\n"
        "out = inference.output_fn(inference.predict_fn(inference.input_fn(body, 'image/png'), model), 'application/json')\n"
        "print(out.decode())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    completed = subprocess.run([sys.executable, "-c", script, str(tmp_path / "model"), str(tmp_path / "request.png")],
                               cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    probabilities = json.loads(completed.stdout.strip().splitlines()[-1])
    assert len(probabilities) == 2 and abs(sum(probabilities) - 1) < 1e-5


def test_the_drift_checker_reads_the_baseline_from_the_artifact(tiny_model_path):
    from scones_contracts.baseline import Baseline

    baseline = Baseline.load(tiny_model_path)
    assert baseline.threshold == 0.93 and len(baseline.top_confidence) == 200
