"""The whole workflow on one machine: upload images, let the synthesized workflow route each one.

`LocalWorkflow` starts the local model server in its own process (the real serving handlers
behind the SageMaker runtime API), points the classify function's boto3 client at it through
`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`, creates the synthesized stacks' resources in moto
(`LocalAws`), and runs uploads through the upload rule and the state machine. Each input gets
exactly one `Outcome`: that of the execution that claimed its object version. With duplicate
deliveries on (EventBridge delivers at least once) each upload event starts two executions; the
one refused as `duplicate` is counted (`LocalWorkflow.duplicates`), never reported as the file's.
An image that waits for a human reviewer gets `review` (with the review's reason and the model's
guess) as soon as its review item is pending, or, with `hold_reviews` (`scones run --review-port`),
the outcome the reviewer's decision leads to, when it is decided (`decided_by: "reviewer"`).
"""
from __future__ import annotations

import json
import os
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from scones_contracts.events import OUTCOME_DUPLICATE, OUTCOME_REVIEW, OUTCOMES

from .aws import LocalAws
from .cloud_assembly import synthesize
from .execution_environments import ExecutionEnvironments
from .moto_shims import local_cloud
from .step_times import step_times

# An image's deadline is the state machine's execution timeout plus this, for the upload event's delivery.
START_GRACE_S = 60
MAX_KEY_BYTES = 1024  # S3's limit on an object key


@dataclass
class Outcome:
    """What happened to one uploaded file (the `scones run --json` line)."""

    key: str
    outcome: str  # routed | quarantined | review_expired | failed | review (still waiting for a reviewer)
    label: str | None = None
    confidence: float | None = None
    reason: str | None = None
    latency_ms: float | None = None
    source: str | None = None  # the local file
    steps_ms: dict[str, float] = field(default_factory=dict)  # where the latency went: step_times.py
    reason_code: str | None = None  # quarantined: why, as a code (e.g. rejected_by_reviewer)
    decided_by: str | None = None  # routed / rejected: "model" or "reviewer"
    review_id: str | None = None  # the review item a reviewer decided (or that the image waits for)

    def json_line(self) -> str:
        """ASCII-only JSON (non-ASCII as \\u escapes): valid whatever the console's encoding."""
        data = asdict(self)
        return json.dumps({k: data[k] for k in JSON_FIELDS})


# One `scones run --json` line per input (always these keys; null when not applicable).
JSON_FIELDS = ("key", "outcome", "label", "confidence", "reason", "reason_code", "latency_ms", "decided_by",
               "review_id")


@dataclass(frozen=True)
class Progress:
    """Where a long run stands (passed to `run`'s `on_progress` every `progress_every_s`)."""

    files: int
    done: int
    counts: dict[str, int]
    in_flight: int
    elapsed_s: float

    def line(self) -> str:
        rate = self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0
        left = ""
        if rate > 0 and self.done < self.files:
            seconds = (self.files - self.done) / rate
            left = f", about {seconds / 60:.0f} min left" if seconds >= 90 else f", about {seconds:.0f} s left"
        counts = ", ".join(f"{n} {name}" for name, n in self.counts.items() if n)
        return (f"{self.done}/{self.files} files done ({counts or 'none yet'}), {self.in_flight} in flight, "
                f"{rate:.1f} files/s{left}")


def list_images(images_dir: Path) -> list[Path]:
    """Every file under the folder, recursively, whatever its name (hidden files included)."""
    return sorted(p for p in Path(images_dir).rglob("*") if p.is_file())


def display_path(path: Path | str) -> str:
    """A file name as text that is always valid: bytes that are not UTF-8 (possible on Linux) as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def upload_key(prefix: str, root: Path, path: Path) -> str:
    """The S3 key of a local file: its path under `root`, after `prefix`.

    S3 keys are UTF-8. A name that is not (its undecodable bytes arrive as surrogate escapes) gets
    each such byte, and each '%', written as %XX, so the key is valid and still says exactly which
    bytes the name held (`caf\\xe9.png` -> `caf%E9.png`). Valid names are used as they are.
    """
    relative = path.relative_to(root).as_posix()
    try:
        relative.encode("utf-8")
        return prefix + relative
    except UnicodeEncodeError:
        return prefix + "".join(f"%{ord(ch) - 0xDC00:02X}" if 0xDC80 <= ord(ch) <= 0xDCFF else
                                "%25" if ch == "%" else ch for ch in relative)


class LocalWorkflow:
    """Context manager: model server + local AWS built from the synthesized templates."""

    def __init__(self, model_path: Path, workdir: Path, context: dict[str, Any] | None = None,
                 inject_errors: float = 0.0, fault_seed: int = 0, capture: bool = True,
                 on_invoke: Callable[[str, float], None] | None = None) -> None:
        """`context`: config overrides (flat keys, as `-c key=value`) the app is synthesized with;
        everything else comes from cdk.json, as for `cdk synth`. `on_invoke(function name, seconds)`
        observes every Lambda invocation."""
        self.model_path = Path(model_path)
        self.workdir = Path(workdir)
        self.context = dict(context or {})
        self.inject_errors = inject_errors
        self.fault_seed = fault_seed
        self.capture_dir = self.workdir / "datacapture" if capture else None
        self.on_invoke = on_invoke  # observes every Lambda invocation: (function name, seconds)
        self._stack: list[Any] = []
        self.aws: LocalAws | None = None
        self.environments: ExecutionEnvironments | None = None  # the functions' Lambda execution environments
        self.server = None
        self.step_seconds: dict[str, list[float]] = {}
        self.duplicates = 0  # executions that ended `duplicate` (a redelivered upload event)
        self._lock = threading.Lock()

    def __enter__(self) -> "LocalWorkflow":
        from .model_server_process import ModelServerProcess

        self.workdir.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the local account's region (moto)
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon here
        assembly = synthesize(self.workdir / "cdk.out", context={k: str(v) for k, v in self.context.items()})
        self.config = assembly.config  # the synthesized app's: what its functions' environment says
        self.assembly = assembly  # every stack's template (what an IAM check resolves grants from)
        self.server = ModelServerProcess(self.model_path, endpoint_name=assembly.config.endpoint.name,
                                         capture_dir=self.capture_dir, inject_errors=self.inject_errors,
                                         fault_seed=self.fault_seed, log_file=self.workdir / "model-server.log")
        url = self.server.start()
        self._previous_endpoint = os.environ.get("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME")
        os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = url
        _reset_cached_clients()
        self._cloud = local_cloud(self.on_invoke)
        self.environments = self._cloud.__enter__()
        self.aws = LocalAws(assembly)
        self.aws.deploy()
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self._cloud.__exit__(*exc_info)
        finally:
            if self._previous_endpoint is None:
                os.environ.pop("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", None)
            else:
                os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = self._previous_endpoint
            _reset_cached_clients()
            if self.server is not None:
                self.server.stop()

    # -- running --------------------------------------------------------------------------------
    def run(self, files: list[Path], root: Path, concurrency: int = 8, image_timeout_s: float | None = None,
            duplicate_deliveries: bool = False, on_progress: Callable[[Progress], None] | None = None,
            progress_every_s: float = 10.0, hold_reviews: bool = False, release: threading.Event | None = None,
            on_waiting: Callable[[Outcome], None] | None = None) -> Iterator[Outcome]:
        """Upload `files` (relative to `root`) under the incoming prefix; yield outcomes as they finish.

        `concurrency` images are in flight at once, like that many drivers each uploading a photo
        and waiting for its routing; latency is measured from the upload to the outcome. Each image
        has `image_timeout_s` from its upload to reach an outcome (default: the state machine's own
        execution timeout plus `START_GRACE_S`); the run as a whole has no time limit, so every file
        is uploaded however many there are. `duplicate_deliveries`: deliver every upload event
        twice, each under its own execution. `on_progress(Progress)` is called every
        `progress_every_s` seconds (not at all in a shorter run).
        `hold_reviews`: an image that waits for a reviewer gets its line when the decision has led to
        an outcome (`on_waiting(outcome "review")` says once that it waits; its upload slot goes to
        the next file, as a human may take hours); once `release` is set (Ctrl-C), the images still
        waiting get `review` lines and the run ends. The per-image deadline (the state machine's
        timeout, which includes `review_timeout_hours`) covers the wait.
        """
        aws = self.aws
        assert aws is not None, "use LocalWorkflow as a context manager"
        release = release or threading.Event()
        if image_timeout_s is None:
            image_timeout_s = self.config.execution_timeout_seconds + START_GRACE_S
        keys, refused = self._keys(files, root)
        uploaded_at: dict[str, float] = {}
        uploaded_wall: dict[str, float] = {}  # the same instants on the clock the execution history uses
        upload_failures: "queue.Queue[Outcome]" = queue.Queue()
        uploads = [0]  # objects stored so far; their events are awaited on the rule's queue
        events_seen: set[str] = set()
        slots = threading.Semaphore(max(1, concurrency))
        stop = threading.Event()

        def upload_all() -> None:
            for key, path in keys.items():
                while not slots.acquire(timeout=0.2):
                    if stop.is_set():
                        return
                try:
                    body = path.read_bytes()
                    uploaded_at[key], uploaded_wall[key] = time.perf_counter(), time.time()
                    aws.s3.put_object(Bucket=aws.deployed.bucket, Key=key, Body=body)
                    uploads[0] += 1
                except Exception as exc:  # unreadable file or refused upload: say so, keep going
                    upload_failures.put(Outcome(key=key, outcome="failed", reason=f"upload failed: {exc}",
                                                source=display_path(path)))

        uploader = threading.Thread(target=upload_all, name="scones-uploader", daemon=True)
        uploader.start()
        pending: dict[str, str] = {}  # execution arn -> key
        running: dict[str, int] = {}  # key -> its executions not yet ended
        decided: dict[str, Outcome] = {}  # key -> the outcome of the execution that claimed it
        done: set[str] = set()
        slot_freed: set[str] = set()  # keys whose slot went to the next upload (ended, or waiting for a human)
        announced: set[str] = set()  # executions whose wait for a reviewer was reported
        counts = {name: 0 for name in OUTCOMES}
        started = next_progress = time.perf_counter()
        next_progress += progress_every_s

        def free_slot(key: str) -> None:
            if key not in slot_freed:
                slot_freed.add(key)
                slots.release()

        def finish(outcome: Outcome) -> Outcome:
            done.add(outcome.key)
            counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
            return outcome

        try:
            for outcome in refused:
                yield finish(outcome)
            while len(done) < len(keys) + len(refused):
                # Deadlines first: an image past its deadline is failed even if its outcome is ready now.
                now = time.perf_counter()
                for key, at in list(uploaded_at.items()):
                    if key not in done and now - at > image_timeout_s:
                        free_slot(key)
                        yield finish(self._overdue(key, keys[key], image_timeout_s, running.get(key, 0), now - at))
                while not upload_failures.empty():
                    failure = upload_failures.get()
                    if failure.key not in done:  # not already past its deadline
                        free_slot(failure.key)
                        yield finish(failure)
                # The queue is read only while an upload's event is still due (each receive is an API call).
                dispatched = aws.dispatch_uploads(deliveries=2 if duplicate_deliveries else 1) \
                    if uploads[0] > len(events_seen) else []
                for execution_input, arn in dispatched:
                    events_seen.add(execution_input["key"])
                    if execution_input["key"] in keys and execution_input["key"] not in done:
                        pending[arn] = execution_input["key"]
                        running[execution_input["key"]] = running.get(execution_input["key"], 0) + 1
                waiting = aws.waiting_executions(list(pending)) if pending else set()
                holding = hold_reviews and not release.is_set()
                for arn, key in list(pending.items()):
                    if key in done:  # past its deadline already: its executions no longer count
                        pending.pop(arn)
                        continue
                    description = aws.execution_description(arn)
                    is_waiting = description["status"] == "RUNNING" and arn in waiting
                    if is_waiting and holding:
                        if arn not in announced:
                            announced.add(arn)
                            free_slot(key)
                            if on_waiting is not None:
                                on_waiting(self._waiting(key, keys[key], arn, uploaded_at[key], uploaded_wall[key]))
                        continue
                    if description["status"] == "RUNNING" and not is_waiting:
                        continue
                    pending.pop(arn)
                    running[key] -= 1
                    at = (key, keys[key])
                    outcome = (self._waiting(*at, arn, uploaded_at[key], uploaded_wall[key]) if is_waiting
                               else self._outcome(*at, description, uploaded_at[key], uploaded_wall[key]))
                    if outcome.outcome == OUTCOME_DUPLICATE:
                        self.duplicates += 1
                    else:
                        decided.setdefault(key, outcome)
                    if running[key] == 0:  # every delivery of this upload has ended: one line for it
                        free_slot(key)
                        yield finish(decided.get(key) or Outcome(
                            key=key, outcome="failed", source=display_path(keys[key]), latency_ms=outcome.latency_ms,
                            reason="every execution for this upload was refused as a duplicate delivery"))
                if on_progress is not None and progress_every_s > 0 and now >= next_progress:
                    next_progress = now + progress_every_s
                    on_progress(Progress(files=len(keys) + len(refused), done=len(done), counts=dict(counts),
                                         in_flight=len([k for k in uploaded_at if k not in done]),
                                         elapsed_s=now - started))
                time.sleep(0.01)
        finally:
            stop.set()
            uploader.join(timeout=5)

    def _keys(self, files: list[Path], root: Path) -> tuple[dict[str, Path], list[Outcome]]:
        """Each file's S3 key; files that cannot have one get a failed outcome instead (never silently dropped)."""
        prefix = self.config.bucket.incoming_prefix
        keys: dict[str, Path] = {}
        refused: list[Outcome] = []
        for path in files:
            key = upload_key(prefix, root, path)
            size = len(key.encode("utf-8"))
            if size > MAX_KEY_BYTES:
                refused.append(Outcome(key=key, outcome="failed", source=display_path(path),
                                       reason=f"not uploaded: its S3 key would be {size} bytes, S3 allows {MAX_KEY_BYTES}"))
            elif key in keys:
                refused.append(Outcome(key=key, outcome="failed", source=display_path(path),
                                       reason=f"not uploaded: its S3 key is also the key of {display_path(keys[key])}"))
            else:
                keys[key] = path
        return keys, refused

    @staticmethod
    def _overdue(key: str, source: Path, timeout_s: float, running: int, waited_s: float) -> Outcome:
        what = (f"its execution was still running after {timeout_s:g} s" if running
                else f"no execution had started {timeout_s:g} s after its upload (the upload event was not delivered)")
        return Outcome(key=key, outcome="failed", source=display_path(source), latency_ms=round(waited_s * 1000, 1),
                       reason=f"no outcome within the per-image deadline: {what}")

    def _outcome(self, key: str, source: Path, description: dict[str, Any], uploaded_at: float,
                 uploaded_wall: float) -> Outcome:
        latency_ms = round((time.perf_counter() - uploaded_at) * 1000, 1)
        steps = step_times(self.aws.execution_events(description["executionArn"]), uploaded_wall, time.time())
        status = description["status"]
        if status == "SUCCEEDED":
            output = json.loads(description["output"])
            return Outcome(key=key, outcome=output["outcome"], label=output.get("label"),
                           confidence=output.get("confidence"), reason=output.get("reason"),
                           latency_ms=latency_ms, source=display_path(source), steps_ms=steps,
                           reason_code=output.get("reason_code"), decided_by=output.get("decided_by"),
                           review_id=output.get("review_id"))
        reason = f"{description.get('error', status)}: {_cause_message(description.get('cause'))}"
        return Outcome(key=key, outcome="failed", reason=reason, latency_ms=latency_ms, source=display_path(source),
                       steps_ms=steps)

    def _waiting(self, key: str, source: Path, execution_arn: str, uploaded_at: float,
                 uploaded_wall: float) -> Outcome:
        """An execution that waits for a reviewer: outcome `review`, with the model's guess (if any)."""
        item = self.aws.pending_review(execution_arn) or {}
        reason = item.get("reason")
        if item.get("error"):
            reason = f"{reason}: {item['error']}: {_cause_message(item.get('cause'))}"
        return Outcome(key=key, outcome=OUTCOME_REVIEW, label=item.get("model_label"),
                       confidence=item.get("confidence"), reason=reason, review_id=item.get("id"),
                       latency_ms=round((time.perf_counter() - uploaded_at) * 1000, 1), source=str(source),
                       steps_ms=step_times(self.aws.execution_events(execution_arn), uploaded_wall, time.time()))


def _cause_message(cause: str | None) -> str:
    """A Lambda error's cause is JSON with errorMessage; other causes are plain text."""
    if not cause:
        return "no cause recorded"
    try:
        return json.loads(cause).get("errorMessage", cause)
    except (ValueError, AttributeError):
        return cause


def _reset_cached_clients() -> None:
    """Functions cache their boto3 clients; endpoint URLs changed, so drop them."""
    from lambdas.shared.aws_clients import reset_clients

    reset_clients()
