"""`scones serve`: run the local model server in the foreground (Ctrl-C or SIGTERM stops it cleanly).

    scones serve --model artifacts/model.tar.gz [--host 127.0.0.1] [--port 8080]
                 [--endpoint-name NAME] [--capture-dir DIR] [--sampling-percentage P]
                 [--inject-errors RATE] [--fault-kind mixed|throttle|model-error|unavailable]
                 [--fault-seed N] [--workers N] [--torch-threads N] [--log-level LEVEL]

Serves the SageMaker container contract (GET /ping, POST /invocations, answered by the SageMaker
PyTorch inference toolkit's handler service, as in the container) and the SageMaker Runtime API
(POST /endpoints/NAME/invocations), so after

    export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://127.0.0.1:8080

`boto3.client("sagemaker-runtime").invoke_endpoint(EndpointName=NAME, ...)`, the classify Lambda
and `aws sagemaker-runtime invoke-endpoint` talk to the local model (any credentials work).

--capture-dir writes SageMaker data capture (read it with `scones capture-report --capture DIR`).
--inject-errors RATE fails that share (0..1) of runtime-API invocations on purpose: by default half
ThrottlingException (HTTP 400) and half ModelError with OriginalStatusCode 500; change it while
running with `curl -X POST URL/faults -d '{"rate": 0.5, "kind": "throttle"}'` (GET /faults shows it,
GET /stats shows invocation counters). See scones/local/model_server_errors.py for the error mapping.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys

PROG = "scones serve"


def _bounded(parse, low, high=None, what="a number", note=""):
    """An argparse type: `parse` the text, then require low <= value (<= high)."""

    def convert(value: str):
        try:
            number = parse(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {value!r}") from None
        if number < low or (high is not None and number > high):
            bounds = f"between {low} and {high}{note}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return number

    return convert


_rate = _bounded(float, 0.0, 1.0)
_percentage = _bounded(float, 0.0, 100.0)
_port = _bounded(int, 0, 65535, "a port number", " (0 = any free port)")
_positive_int = _bounded(int, 1, what="an integer")


def register(subparsers: argparse._SubParsersAction) -> None:
    from scones.local.model_server_faults import FAULT_KINDS

    parser = subparsers.add_parser(
        "serve",
        help="serve model.tar.gz locally: SageMaker container contract + SageMaker Runtime API",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, metavar="PATH", help="model.tar.gz or an extracted artifact folder")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=_port, default=8080, help="port (default %(default)s; 0 = any free port)")
    # The default is the app config's endpoint_name (set by the scones CLI: CONFIG_DEFAULTS).
    parser.add_argument("--endpoint-name",
                        help="endpoint name the runtime API answers to (default: the app config's, %(default)s)")
    parser.add_argument("--capture-dir", metavar="DIR", help="write SageMaker data capture under DIR")
    parser.add_argument("--sampling-percentage", type=_percentage, default=100.0, metavar="P",
                        help="share of invocations captured, 0-100 (default %(default)s)")
    parser.add_argument("--inject-errors", type=_rate, default=0.0, metavar="RATE",
                        help="share of runtime-API invocations to fail on purpose, 0-1 (default 0)")
    parser.add_argument("--fault-kind", choices=FAULT_KINDS, default="mixed",
                        help="mixed = alternate ThrottlingException and ModelError 500 (default)")
    parser.add_argument("--fault-seed", type=int, default=0, help="seed of the fault RNG (default %(default)s)")
    parser.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                        help="toolkit workers, i.e. requests predicted in parallel (default: one per CPU)")
    parser.add_argument("--torch-threads", type=_positive_int, default=1, metavar="N",
                        help="torch intra-op threads (default %(default)s: parallelism comes from --workers)")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"),
                        help="uvicorn log level; info shows one access line per request (default %(default)s)")
    parser.set_defaults(func=run)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    import logging

    from scones.local.model_server import ModelServer

    if not os.path.exists(args.model):
        print(f"{PROG}: model not found: {args.model}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        server = ModelServer(args.model, host=args.host, port=args.port, endpoint_name=args.endpoint_name,
                             capture_dir=args.capture_dir, sampling_percentage=args.sampling_percentage,
                             inject_errors=args.inject_errors, fault_kind=args.fault_kind, fault_seed=args.fault_seed,
                             max_concurrency=args.workers, torch_threads=args.torch_threads,
                             log_level=args.log_level, access_log=args.log_level in ("info", "debug"))
    except ValueError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2

    def ready(srv: ModelServer) -> None:
        lines = [
            f"serving {srv.model_path} (model {srv.model_version}) as endpoint {srv.endpoint_name!r} at {srv.url}",
            f"  container contract: GET {srv.url}/ping, POST {srv.url}/invocations",
            f"  runtime API:        POST {srv.url}/endpoints/{srv.endpoint_name}/invocations",
            f"  export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME={srv.url}",
        ]
        if srv.capture_dir:
            lines.append(f"  data capture: {srv.capture_dir} (scones capture-report --capture {args.capture_dir})")
        faults = srv.faults.snapshot()
        if faults["rate"]:
            lines.append(f"  injecting faults: {faults['rate']:g} of invocations, kind {faults['kind']}")
        lines.append("Ctrl-C to stop")
        print("\n".join(lines), flush=True)

    # SIGTERM stops as cleanly as Ctrl-C: uvicorn handles both while serving, then re-raises the
    # signal into the handler it found, which is this one.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run(on_ready=ready)
    except KeyboardInterrupt:
        pass
    except (OSError, ValueError) as exc:  # port in use, unreadable artifact
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    stats = server.invocation_stats()
    print(f"stopped after {stats['count']} invocations ({stats['errors']} errors)", flush=True)
    return 0
