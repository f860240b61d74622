"""`scones run --images DIR --json --review-port PORT [--labels-out DIR]` as a user (and our checks) run it:
the console and review API on 127.0.0.1:PORT, 401 without `Authorization: Bearer $SCONES_REVIEW_TOKEN`,
one JSON line per input (a reviewed image's when decided, with decided_by), the process ends by itself
when no review is pending, and the reviewed examples (rejects excluded) land in the training layout."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from scones_contracts.classes import CLASS_NAMES
from scones_contracts.labels import image_extension
from training.dataset import load_labeled_images

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "cifar100-bicycle-motorcycle"
CONSOLE_LINE = re.compile(r"review console: (http://127\.0\.0\.1:\d+)/")
GENERATED_TOKEN = re.compile(r"review console: http://127\.0\.0\.1:\d+/#token=([A-Za-z0-9_-]{40,})\n")
UNAUTHORIZED = {"message": "Unauthorized"}


def sample_images(target: Path, count: int) -> list[str]:
    """`count` sample images under `target`; their upload keys."""
    names = [line.split("\t")[2].strip() for line in (SAMPLE / "train.lst").read_text().splitlines() if line.strip()]
    keys = []
    for i, name in enumerate(names[:count]):
        (target / f"driver {i}").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLE / "train" / name, target / f"driver {i}" / name)
        keys.append(f"incoming/driver {i}/{name}")
    return keys


class Scones:
    """`scones run` in a subprocess (no stdin, as in CI), its stderr read as it comes."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "scones.cli", *args], cwd=ROOT, env=env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        # One reader per pipe, started now: `communicate()` would read stderr too, racing this reader
        # for the lines (the console line went to whichever read it first).
        self.stderr: list[str] = []
        self.stdout: list[str] = []
        self._readers = [threading.Thread(target=lambda: self.stderr.extend(self.process.stderr), daemon=True),
                         threading.Thread(target=lambda: self.stdout.extend(self.process.stdout), daemon=True)]
        for reader in self._readers:
            reader.start()

    def console(self, timeout: float = 300) -> str:
        """The base URL from the line the run prints on stderr."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.stderr):
                if match := CONSOLE_LINE.search(line):
                    return match.group(1)
            assert self.process.poll() is None, "".join(self.stderr)[-3000:]
            time.sleep(0.2)
        raise AssertionError("no console address on stderr:\n" + "".join(self.stderr)[-3000:])

    def finish(self, timeout: float = 300) -> tuple[list[dict], dict]:
        """Wait for the process to end by itself; (per-input lines, summary line)."""
        self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=10)
        assert self.process.returncode == 0, "".join(self.stderr)[-3000:]
        lines = [json.loads(line) for line in self.stdout if line.strip()]
        return lines[:-1], lines[-1]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SCONES_REVIEW_TOKEN"}
    return {**env, **extra}


def test_reviews_through_the_local_api_then_exit_and_export_the_labels(tiny_model_path, tmp_path):
    keys = sample_images(tmp_path / "images", 3)
    labels_out = tmp_path / "labels"
    run = Scones(["-c", "confidence_threshold=0.9999", "-c", "audit_sample_rate=0", "run", "--images",
                  str(tmp_path / "images"), "--model", str(tiny_model_path), "--json", "--review-port", "0",
                  "--labels-out", str(labels_out), "--workdir", str(tmp_path / "work")],
                 environment(SCONES_REVIEW_TOKEN="cli-test-token"))
    try:
        url = run.console()
        with httpx.Client(base_url=url, timeout=60) as client:
            # API Gateway's part: the JWT routes refuse a request without the token, before the function
            assert client.get("/api/reviews").json() == UNAUTHORIZED
            for wrong in ("Bearer nope", "cli-test-token", "Basic cli-test-token"):
                response = client.get("/api/reviews", headers={"Authorization": wrong})
                assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
            refused = client.post("/api/reviews/x/decision", json={"label": "bicycle"})
            assert refused.status_code == 401
            page = client.get("/")  # the console shell is served without a token (a navigation has none)
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
            auth = {"Authorization": "Bearer cli-test-token"}
            deadline = time.monotonic() + 240
            while True:
                listing = client.get("/api/reviews", headers=auth)
                assert listing.status_code == 200, listing.text
                if len(listing.json()["reviews"]) == len(keys):
                    break
                assert time.monotonic() < deadline and run.process.poll() is None, "".join(run.stderr)[-3000:]
                time.sleep(0.5)
            reviews = listing.json()["reviews"]
            assert sorted(r["key"] for r in reviews) == sorted(keys)
            image = client.get(reviews[0]["image_url"])  # the signed link an <img> loads, without the header
            assert image.status_code == 200 and image.headers["content-type"] == "image/png"
            decisions = dict(zip((r["id"] for r in reviews), ("bicycle", "motorcycle", "reject")))
            key_of = {r["id"]: r["key"] for r in reviews}
            for review_id, label in decisions.items():
                answer = client.post(f"/api/reviews/{review_id}/decision", headers=auth,
                                     json={"label": label, "note": "blurry" if label == "reject" else ""})
                assert answer.status_code == 200, answer.text
        per_input, summary = run.finish()
    finally:
        run.kill()

    assert "cli-test-token" not in "".join(run.stderr), "a token from the environment is not echoed"
    assert sorted(line["key"] for line in per_input) == sorted(keys), "exactly one line per input"
    by_key = {line["key"]: line for line in per_input}
    for review_id, label in decisions.items():
        line = by_key[key_of[review_id]]
        assert line["decided_by"] == "reviewer" and line["review_id"] == review_id
        if label == "reject":
            assert (line["outcome"], line["reason_code"], line["reason"]) == ("quarantined", "rejected_by_reviewer",
                                                                               "blurry")
        else:
            assert (line["outcome"], line["label"]) == ("routed", label)
    assert summary["counts"]["routed"] == 2 and summary["counts"]["quarantined"] == 1
    assert summary["routing_events"] == 2
    assert summary["review"]["pending_at_exit"] == 0 and summary["review"]["labelled_examples"] == 2

    # --labels-out: the layout the training code reads; the reject is not a training example
    lists = sorted((labels_out / "lists").glob("*.lst"))
    kept = {review_id: label for review_id, label in decisions.items() if label != "reject"}
    assert sorted(path.stem for path in lists) == sorted(kept)
    for path in lists:
        (row,) = path.read_text().splitlines()
        _, label_index, image_name = row.split("\t")
        assert CLASS_NAMES[int(label_index)] == kept[path.stem]
        image_bytes = (labels_out / image_name).read_bytes()
        assert image_name == f"images/{path.stem}{image_extension(image_bytes)}"
    assert sorted(p.name for p in (labels_out / "images").iterdir()) == sorted(f"{i}.png" for i in kept)
    dataset = load_labeled_images(labels_out)
    assert sorted(CLASS_NAMES[int(i)] for i in dataset.labels) == sorted(kept.values())


def test_nothing_to_review_ends_the_run_at_once_with_a_generated_token(tiny_model_path, tmp_path):
    keys = sample_images(tmp_path / "images", 2)
    (tmp_path / "images" / "notes.txt").write_text("not a photo")
    run = Scones(["-c", "confidence_threshold=0.5", "-c", "audit_sample_rate=0", "run", "--images",
                  str(tmp_path / "images"), "--model", str(tiny_model_path), "--json", "--review-port", "0",
                  "--workdir", str(tmp_path / "work")], environment())
    try:
        per_input, summary = run.finish()
    finally:
        run.kill()
    stderr = "".join(run.stderr)
    assert GENERATED_TOKEN.search(stderr) and "token generated" in stderr, stderr[-3000:]  # printed on stderr
    assert sorted(line["key"] for line in per_input) == sorted([*keys, "incoming/notes.txt"])
    by_key = {line["key"]: line for line in per_input}
    assert all(by_key[key]["outcome"] == "routed" and by_key[key]["decided_by"] == "model" for key in keys)
    assert by_key["incoming/notes.txt"]["outcome"] == "quarantined"
    assert summary["review"]["pending_at_exit"] == 0


@pytest.mark.parametrize("argv, message", [
    (["--labels-out", "x"], "--labels-out needs --review-port"),
    (["--review-port", "70000"], "--review-port 70000 is not a TCP port"),
])
def test_bad_review_flags_are_refused_before_anything_runs(tmp_path, argv, message):
    (tmp_path / "images").mkdir()
    result = subprocess.run([sys.executable, "-m", "scones.cli", "run", "--images", str(tmp_path / "images"), *argv],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and message in result.stderr


def test_ctrl_c_stops_waiting_and_every_input_still_gets_its_line(tiny_model_path, tmp_path):
    keys = sample_images(tmp_path / "images", 2)
    run = Scones(["-c", "confidence_threshold=0.9999", "-c", "audit_sample_rate=0", "run", "--images",
                  str(tmp_path / "images"), "--model", str(tiny_model_path), "--json", "--review-port", "0",
                  "--workdir", str(tmp_path / "work")], environment(SCONES_REVIEW_TOKEN="t"))
    try:
        run.console()
        deadline = time.monotonic() + 240
        while sum("waiting for a reviewer" in line for line in list(run.stderr)) < len(keys):
            assert time.monotonic() < deadline and run.process.poll() is None, "".join(run.stderr)[-3000:]
            time.sleep(0.2)
        run.process.send_signal(signal.SIGINT)
        per_input, summary = run.finish()
    finally:
        run.kill()
    assert sorted(line["key"] for line in per_input) == sorted(keys)
    assert all(line["outcome"] == "review" and line["review_id"] for line in per_input)
    assert summary["review"]["pending_at_exit"] == len(keys)
