#!/usr/bin/env python3
"""Generate `stacks/image_uris.py`: the SageMaker PyTorch framework image URIs per region.

The data comes from the SageMaker Python SDK's own image-URI table (`sagemaker-core`'s
`sagemaker/core/image_uri_config/pytorch.json`), so no account id is ever typed by hand.
The ECR hostname of each region is resolved with botocore's endpoint data, the same way the
SDK's `image_uris.retrieve()` does it (`ecr.<region>.amazonaws.com`, `.com.cn` in China).
The tag is the SDK's `<version>-<processor>-<py_version>` (e.g. `2.6.0-cpu-py312`).

    .venv/bin/python scripts/gen_image_uris.py            # pip-downloads sagemaker-core, rewrites the file
    .venv/bin/python scripts/gen_image_uris.py --check    # exit 1 if the file is not what would be generated
    .venv/bin/python scripts/gen_image_uris.py --wheel /tmp/sagemaker_core-2.27.0-py3-none-any.whl

Only the combinations the app can be configured with are written (default: PyTorch 2.6.0,
py312, CPU, training + inference); pass --version/--py-version/--processor to add more.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "stacks" / "image_uris.py"
SDK_PACKAGE = "sagemaker-core"
SDK_VERSION = "2.27.0"
CONFIG_MEMBER = "sagemaker/core/image_uri_config/pytorch.json"
SCOPES = ("training", "inference")


def download_wheel(dest: Path) -> Path:
    """`pip download sagemaker-core==2.27.0 --no-deps` into `dest`; return the wheel's path."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--only-binary=:all:", "-d", str(dest), f"{SDK_PACKAGE}=={SDK_VERSION}"], check=True)
    wheels = sorted(dest.glob("sagemaker_core-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one sagemaker_core wheel in {dest}, found {[w.name for w in wheels]}")
    return wheels[0]


def read_config(wheel: Path) -> dict:
    with zipfile.ZipFile(wheel) as archive:
        return json.loads(archive.read(CONFIG_MEMBER))


def ecr_hostname(region: str) -> str:
    """The ECR API hostname of `region`, as the SDK resolves it (botocore endpoint data)."""
    from botocore.loaders import create_loader
    from botocore.regions import EndpointResolver

    endpoint = EndpointResolver(create_loader().load_data("endpoints")).construct_endpoint("ecr", region)
    if not endpoint:  # the SDK's own fallback for regions botocore does not know yet
        return f"ecr.{region}.amazonaws.com"
    return endpoint["hostname"]


def resolve_version(scope_config: dict, version: str) -> tuple[str, dict]:
    """Follow the SDK's version aliases ('2.6' -> '2.6.0')."""
    full = scope_config.get("version_aliases", {}).get(version, version)
    versions = scope_config["versions"]
    if full not in versions:
        raise SystemExit(f"PyTorch {version} is not in {CONFIG_MEMBER}; known: {sorted(versions)}")
    return full, versions[full]


def build_images(config: dict, versions: list[str], py_versions: list[str], processors: list[str],
                 hostname=ecr_hostname) -> dict:
    """{version: {py: {processor: {scope: {repository, tag, regions: {region: {account, uri}}}}}}}."""
    images: dict = {}
    for requested in versions:
        for py in py_versions:
            for processor in processors:
                for scope in SCOPES:
                    scope_config = config[scope]
                    version, entry = resolve_version(scope_config, requested)
                    if processor not in scope_config.get("processors", entry.get("processors", [])):
                        raise SystemExit(f"{scope} {version}: no '{processor}' image")
                    if py not in entry.get("py_versions", []):
                        raise SystemExit(f"{scope} {version}: no {py} image (has {entry.get('py_versions')})")
                    repository = entry["repository"]
                    tag = "-".join((entry.get("tag_prefix", version), processor, py))
                    regions = {
                        region: {"account": account,
                                 "uri": f"{account}.dkr.{hostname(region)}/{repository}:{tag}"}
                        for region, account in sorted(entry["registries"].items())
                    }
                    (images.setdefault(version, {}).setdefault(py, {}).setdefault(processor, {}))[scope] = {
                        "repository": repository, "tag": tag, "regions": regions,
                    }
    return images


def render(images: dict, wheel_name: str, wheel_sha256: str) -> str:
    import botocore

    source = {
        "package": f"{SDK_PACKAGE}=={SDK_VERSION}",
        "wheel": wheel_name,
        "wheel_sha256": wheel_sha256,
        "member": CONFIG_MEMBER,
        "ecr_hostnames": f"botocore=={botocore.__version__} endpoint data",
    }
    return (
        '"""GENERATED by scripts/gen_image_uris.py from the SageMaker SDK\'s image-URI data -- do not edit.\n\n'
        "SageMaker PyTorch framework images (training and inference) per region:\n"
        "PYTORCH_IMAGES[version][py_version][processor][scope] =\n"
        '    {"repository", "tag", "regions": {region: {"account", "uri"}}}\n'
        "Regenerate with `.venv/bin/python scripts/gen_image_uris.py` (`--check` verifies it).\n"
        '"""\n'
        f"SOURCE = {json.dumps(source, indent=4, sort_keys=True)}\n\n"
        f"PYTORCH_IMAGES = {json.dumps(images, indent=4, sort_keys=True)}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help=f"use this {SDK_PACKAGE} wheel instead of downloading it")
    parser.add_argument("--version", action="append", dest="versions", help="PyTorch version (repeatable; default 2.6.0)")
    parser.add_argument("--py-version", action="append", dest="py_versions", help="default py312")
    parser.add_argument("--processor", action="append", dest="processors", help="cpu/gpu (default cpu)")
    parser.add_argument("--output", type=Path, default=TARGET)
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if the output file differs")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="gen-image-uris-") as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        if f"-{SDK_VERSION}-" not in wheel.name:
            raise SystemExit(f"{wheel.name} is not {SDK_PACKAGE} {SDK_VERSION}")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        images = build_images(read_config(wheel), args.versions or ["2.6.0"], args.py_versions or ["py312"],
                              args.processors or ["cpu"])
        text = render(images, wheel.name, digest)
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date; run scripts/gen_image_uris.py", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
