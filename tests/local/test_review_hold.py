"""The local runtime holding each image that waits for a reviewer until it is decided (what
`scones run --review-port` does): one outcome per input, printed when decided, with `decided_by`;
a reject ends quarantined with the note; Ctrl-C (`release`) reports the images still waiting as
`review`. Reviewers here decide through `scones.local.reviewing.decide` (the API's conditional write
and task-token resume); the console and API in front of it are tested in test_review_console.py."""
from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from scones.local.iam_enforcement import enforce_iam
from scones.local.reviewing import decide
from scones.local.runtime import LocalWorkflow, list_images

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "cifar100-bicycle-motorcycle"
# Every image goes to a reviewer (the tiny model is never this sure); no audit samples.
CONTEXT = {"confidence_threshold": 0.9999, "audit_sample_rate": 0}


def sample_images(target: Path, count: int) -> list[Path]:
    names = [line.split("\t")[2].strip() for line in (SAMPLE / "train.lst").read_text().splitlines() if line.strip()]
    for i, name in enumerate(names[:count]):
        (target / f"d{i}").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLE / "train" / name, target / f"d{i}" / name)
    return list_images(target)


@pytest.fixture(scope="module")
def workflow(tiny_model_path, tmp_path_factory):
    with LocalWorkflow(tiny_model_path, tmp_path_factory.mktemp("hold"), context=CONTEXT) as running, \
            enforce_iam(running.assembly, running.aws.resolver) as iam:
        running.iam = iam
        yield running
        assert not iam.take_denials()


class Reviewer(threading.Thread):
    """Decides each waiting image once it was announced: `decisions[i]` for the i-th announced."""

    def __init__(self, aws, decisions: list[tuple[str, str]]) -> None:
        super().__init__(daemon=True)
        self.aws, self.decisions = aws, decisions
        self.announced: "list" = []
        self.decided: dict[str, tuple[str, str]] = {}  # key -> (label, note)
        self.errors: list[BaseException] = []

    def on_waiting(self, outcome) -> None:
        self.announced.append(outcome)

    def run(self) -> None:
        try:
            done = 0
            deadline = time.monotonic() + 300
            while done < len(self.decisions) and time.monotonic() < deadline:
                if len(self.announced) > done:
                    outcome = self.announced[done]
                    label, note = self.decisions[done]
                    decide(self.aws, outcome.review_id, label, note=note)
                    self.decided[outcome.key] = (label, note)
                    done += 1
                time.sleep(0.02)
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)


def test_waiting_images_get_their_line_when_decided(workflow, tmp_path):
    files = sample_images(tmp_path / "images", 3)
    reviewer = Reviewer(workflow.aws, [("motorcycle", ""), ("reject", "a blurry <b>thumb</b>"), ("bicycle", "ok")])
    reviewer.start()
    outcomes = list(workflow.run(files, tmp_path / "images", concurrency=1, hold_reviews=True,
                                 on_waiting=reviewer.on_waiting))
    reviewer.join(timeout=10)
    assert not reviewer.errors, reviewer.errors
    keys = sorted("incoming/" + f.relative_to(tmp_path / "images").as_posix() for f in files)
    assert sorted(o.key for o in outcomes) == keys, "exactly one outcome per input"
    # concurrency 1: the next upload went ahead while the first waited for its reviewer
    assert sorted(o.key for o in reviewer.announced) == keys
    assert all(o.outcome == "review" and o.reason == "low_confidence" and o.review_id for o in reviewer.announced)
    by_key = {o.key: o for o in outcomes}
    for key, (label, note) in reviewer.decided.items():
        outcome = by_key[key]
        assert outcome.decided_by == "reviewer"
        if label == "reject":
            assert (outcome.outcome, outcome.reason_code, outcome.reason) == (
                "quarantined", "rejected_by_reviewer", note)
        else:
            assert (outcome.outcome, outcome.label) == ("routed", label)
            assert 0 <= outcome.confidence < CONTEXT["confidence_threshold"]  # the model's own confidence
        line = outcome.json_line()
        assert '"decided_by": "reviewer"' in line
    assert workflow.aws.pending_executions() == set()


def test_ctrl_c_reports_the_images_still_waiting_as_review(workflow, tmp_path):
    files = sample_images(tmp_path / "images", 2)
    release = threading.Event()
    announced = []

    def on_waiting(outcome) -> None:
        announced.append(outcome)
        if len(announced) == len(files):
            release.set()  # what the first Ctrl-C does

    outcomes = list(workflow.run(files, tmp_path / "images", concurrency=2, hold_reviews=True, release=release,
                                 on_waiting=on_waiting))
    assert len(outcomes) == len(files) and {o.outcome for o in outcomes} == {"review"}
    assert all(o.decided_by is None and o.review_id for o in outcomes)
    for outcome in outcomes:  # still waiting, and still decidable later
        decide(workflow.aws, outcome.review_id, "bicycle")
