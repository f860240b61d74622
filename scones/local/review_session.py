"""Human review in a local run (`scones run --review-port PORT [--labels-out DIR]`, `scones demo`).

`LocalReview` serves the review console and API of a running `LocalWorkflow` on 127.0.0.1:PORT:
the local review server (`review_server`, API Gateway's part) in front of the review API function
the synthesized app declares, invoked through moto's Lambda (so the REAL handler runs, against the
same moto-hosted table, bucket and state machine the workflow uses). The handler's image links are
the server's own signed URLs (`install_image_url_signer`), the stand-in for S3 presigned GETs.

It also answers what the run needs around the console: how many reviews are pending (the run ends
when none is), the Ctrl-C that stops waiting (`release`), and the export of the run's labelled
examples (`export_labels`: the bucket's labels area, as the API wrote it, copied to a folder in
the same layout; a reject writes no example, so none is exported).
"""
from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from botocore.exceptions import ClientError

from scones_contracts.labels import LIST_SUFFIX
from scones_contracts.review import STATUS_INDEX, STATUS_PENDING

from .http_api import routes_from_templates
from .review_server import TOKEN_VARIABLE, LocalImageSigner, ReviewServer, review_token
from .reviewing import review_api_function


class ReviewUnavailable(RuntimeError):
    """The local run cannot serve the review console (no review API in the app, port taken...)."""


class LocalReview:
    """Context manager: the review console and API of `workflow` on `host:port` (0: a free port)."""

    def __init__(self, workflow: Any, port: int, token: str, host: str = "127.0.0.1",
                 log: Callable[[str], None] | None = None) -> None:
        self.workflow = workflow
        self.aws = workflow.aws
        self.port, self.host, self.token = port, host, token
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self.release = threading.Event()  # set by Ctrl-C: stop waiting for reviewers
        self.server: ReviewServer | None = None
        try:
            self.function_name = review_api_function(self.aws)
        except LookupError as missing:
            raise ReviewUnavailable(f"cannot serve the review console: {missing}") from None

    # -- what the server calls ------------------------------------------------------------------
    def invoke(self, event: dict[str, Any]) -> Any:
        """The review API function, invoked as API Gateway invokes it (a function error raises)."""
        response = self.aws.lambda_.invoke(FunctionName=self.function_name, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            raise RuntimeError(f"{payload.get('errorType')}: {payload.get('errorMessage')}")
        return payload

    def read_image(self, bucket: str, key: str, version_id: str | None) -> bytes:
        """The uploaded object the review shows (LookupError when it, or that version, is gone)."""
        extra = {"VersionId": version_id} if version_id else {}
        try:
            return self.aws.s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchVersion", "404", "NoSuchBucket"):
                raise LookupError(f"s3://{bucket}/{key}" + (f" version {version_id}" if version_id else "")) from None
            raise

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> "LocalReview":
        from lambdas.review_api.images import install_image_url_signer

        signer = LocalImageSigner(self.workflow.config.review.image_url_expiry_seconds)
        self.server = ReviewServer(routes=routes_from_templates(self.aws.assembly.templates), invoke=self.invoke,
                                   read_image=self.read_image, token=self.token, signer=signer,
                                   host=self.host, port=self.port, log=self.log)
        try:
            self.server.start()
        except OSError as exc:
            raise ReviewUnavailable(f"cannot serve the review console on {self.host}:{self.port}: {exc.strerror or exc}"
                                    ) from None
        install_image_url_signer(signer)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        from lambdas.review_api.images import reset_image_url_signer

        reset_image_url_signer()
        if self.server is not None:
            self.server.stop()

    @property
    def console_url(self) -> str:
        assert self.server is not None
        return self.server.console_url()

    # -- waiting --------------------------------------------------------------------------------
    def pending(self) -> int:
        """Reviews pending in the run's table (waiting drivers and audit samples alike)."""
        query = {"TableName": self.aws.deployed.review_table, "IndexName": STATUS_INDEX, "Select": "COUNT",
                 "KeyConditionExpression": "#s = :p", "ExpressionAttributeNames": {"#s": "status"},
                 "ExpressionAttributeValues": {":p": {"S": STATUS_PENDING}}}
        count, start = 0, None
        while True:
            page = self.aws.dynamodb.query(**query, **({"ExclusiveStartKey": start} if start else {}))
            count += page["Count"]
            start = page.get("LastEvaluatedKey")
            if not start:
                return count

    def wait_until_nothing_pending(self, poll_s: float = 0.2) -> int:
        """Block while reviews are pending and Ctrl-C was not pressed; how many are left pending."""
        announced = None
        while not self.release.is_set():
            left = self.pending()
            if left == 0:
                return 0
            if left != announced:
                self.log(f"{left} review(s) still pending (audit samples included): {self.server.url}/ "
                         "(Ctrl-C to stop)")
                announced = left
            time.sleep(poll_s)
        return self.pending()

    def run_options(self) -> dict[str, Any]:
        """`LocalWorkflow.run` keyword arguments: hold each waiting image's line until it is decided."""
        def waiting(outcome: Any) -> None:
            guess = ("no model answer" if outcome.confidence is None
                     else f"model: {outcome.label} {outcome.confidence:.3f}")
            self.log(f"waiting for a reviewer: {json.dumps(outcome.key)} ({outcome.reason}; {guess}); "
                     f"decide it in the console: {self.server.url}/")
        return {"hold_reviews": True, "release": self.release, "on_waiting": waiting}

    def ctrl_c_releases(self) -> "CtrlC":
        """While active (main thread only), a first Ctrl-C sets `release`; a second one interrupts."""
        return CtrlC(self.release, self.log)

    # -- labelled examples ----------------------------------------------------------------------
    def export_labels(self, target: Path) -> list[Path]:
        """Copy the bucket's labels area (what the API wrote for this run's decisions) to `target`,
        keeping its layout (images/..., lists/*.lst); the files written."""
        prefix = self.workflow.config.bucket.labels_prefix
        target = Path(target)
        written = []
        for page in self.aws.s3.get_paginator("list_objects_v2").paginate(Bucket=self.aws.deployed.bucket,
                                                                          Prefix=prefix):
            for entry in page.get("Contents", []):
                relative = PurePosixPath(entry["Key"][len(prefix):])
                if relative.is_absolute() or ".." in relative.parts or not relative.parts:
                    raise ValueError(f"refusing to export {entry['Key']!r}: not a path inside {prefix}")
                destination = target.joinpath(*relative.parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                body = self.aws.s3.get_object(Bucket=self.aws.deployed.bucket, Key=entry["Key"])["Body"].read()
                destination.write_bytes(body)
                written.append(destination)
        return written


@dataclass(frozen=True)
class ReviewOptions:
    """What `scones run --review-port PORT [--labels-out DIR]` asks of a run."""

    port: int
    token: str
    token_generated: bool
    labels_out: Path | None = None
    log: Callable[[str], None] = field(default=lambda message: print(message, file=sys.stderr, flush=True))

    @classmethod
    def from_environment(cls, port: int, labels_out: Path | None = None) -> "ReviewOptions":
        token, generated = review_token()
        return cls(port=port, token=token, token_generated=generated, labels_out=labels_out)

    def start(self, workflow: Any, stack: contextlib.ExitStack) -> LocalReview:
        """Serve the console for `workflow` until `stack` closes; say where (on stderr)."""
        console = stack.enter_context(LocalReview(workflow, self.port, self.token, log=self.log))
        stack.enter_context(console.ctrl_c_releases())
        if self.token_generated:
            self.log(f"review console: {console.console_url}")
            self.log(f"  (token generated for this run; set {TOKEN_VARIABLE} to choose it; "
                     f"API calls send 'Authorization: Bearer {self.token}')")
        else:
            self.log(f"review console: {console.server.url}/  (open it as {console.server.url}/#token=<your "
                     f"{TOKEN_VARIABLE}>; API calls send 'Authorization: Bearer <your {TOKEN_VARIABLE}>')")
        return console

    def finish(self, console: LocalReview) -> dict[str, Any]:
        """After every image has its line: wait while reviews are pending, export the labels; the summary part."""
        left = console.wait_until_nothing_pending()
        summary: dict[str, Any] = {"console": f"{console.server.url}/", "pending_at_exit": left}
        if self.labels_out is not None:
            written = console.export_labels(self.labels_out)
            summary["labels_out"] = str(self.labels_out)
            summary["labelled_examples"] = sum(1 for path in written if path.suffix == LIST_SUFFIX)
            self.log(f"labelled examples exported to {self.labels_out}: {summary['labelled_examples']}")
        return summary


class CtrlC:
    """SIGINT handling for a run that waits for humans: the first Ctrl-C stops waiting (each image
    still gets its line), a second one interrupts at once."""

    def __init__(self, release: threading.Event, log: Callable[[str], None]) -> None:
        self.release, self.log = release, log
        self.previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.release.is_set():
            raise KeyboardInterrupt
        self.release.set()
        self.log("Ctrl-C: no longer waiting for reviewers; images still waiting are reported as 'review' "
                 "(Ctrl-C again to abort)")

    def __enter__(self) -> "CtrlC":
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
