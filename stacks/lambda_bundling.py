"""Lambda code assets built without Docker.

Each function's asset mirrors the repository, so its code imports the same way in AWS, in tests and
in the local runtime (handler `lambdas.<function>.handler.<entry>`)::

    lambdas/__init__.py
    lambdas/<function>/...      the function
    lambdas/shared/...          what the product Lambdas share (observability, clients, payloads)
    scones_contracts/...        the contracts between parts (standard library only)
    scones_imaging/...          image decoding, for the functions that decode images
    <pinned wheels>             third-party wheels for the Lambda platform (Python 3.12 on arm64),
                                installed with `pip --platform ... --only-binary=:all:` from PyPI
                                into a local cache once and copied from there afterwards

Files are chosen by `scones_contracts.source_files`' one inclusion rule, and the asset hash is
their content hash plus the pinned requirements and the platform: stable across machines.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from scones_contracts.source_files import FileList, files_sha256, package_files, source_files

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS_DIR = ROOT / "lambdas"
WHEEL_CACHE = ROOT / ".cache" / "lambda-deps"
LAMBDA_PLATFORM = "manylinux2014_aarch64"
LAMBDA_PYTHON = "3.12"
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_12
LAMBDA_ARCHITECTURE = lambda_.Architecture.ARM_64
SHARED_PACKAGE = "shared"
PROJECT_PACKAGES = ("scones_contracts",)
# Project packages only some functions need (the asset import test proves each asset complete).
EXTRA_PROJECT_PACKAGES = {"serialize": ("scones_imaging",)}


def handler_path(package: str, entry: str = "handler") -> str:
    """The Lambda `Handler` of a function package: `lambdas.<package>.handler.<entry>`."""
    return f"{LAMBDAS_DIR.name}.{package}.handler.{entry}"


def asset_files(package: str) -> FileList:
    """(path in the asset, source path) of every project file of the function's asset, sorted."""
    files = [(f"{LAMBDAS_DIR.name}/__init__.py", LAMBDAS_DIR / "__init__.py")]
    for folder in (package, SHARED_PACKAGE):
        files += source_files(LAMBDAS_DIR / folder, f"{LAMBDAS_DIR.name}/{folder}/")
    files += package_files(ROOT, PROJECT_PACKAGES + EXTRA_PROJECT_PACKAGES.get(package, ()))
    return sorted(files)


def asset_hash(package: str, requirements: tuple[str, ...]) -> str:
    salt = "\n".join((*requirements, LAMBDA_PLATFORM, LAMBDA_PYTHON))
    return files_sha256(asset_files(package), salt)


def install_platform_requirements(requirements: tuple[str, ...]) -> Path:
    """Install pinned wheels for the Lambda platform once into a cache folder; return it."""
    key = hashlib.sha256("\n".join(requirements + (LAMBDA_PLATFORM, LAMBDA_PYTHON)).encode()).hexdigest()[:16]
    target = WHEEL_CACHE / key
    done = target / ".complete"
    if done.exists():
        return target
    staging = target.with_suffix(".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--platform", LAMBDA_PLATFORM, "--implementation", "cp", "--python-version", LAMBDA_PYTHON,
         "--only-binary=:all:", "--target", str(staging), *requirements],
        check=True,
    )
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    done.write_text("\n".join(requirements))
    return target


def write_asset(package: str, requirements: tuple[str, ...], output_dir: str | Path) -> Path:
    """Lay out the function's asset (project files and platform wheels) in `output_dir`."""
    out = Path(output_dir)
    if requirements:
        shutil.copytree(install_platform_requirements(requirements), out, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".complete"))
    for name, source in asset_files(package):
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return out


@jsii.implements(ILocalBundling)
class LocalAssetBundling:
    """Local bundling (no Docker): `write_asset` into the folder CDK hands over."""

    def __init__(self, package: str, requirements: tuple[str, ...]) -> None:
        self.package = package
        self.requirements = requirements

    def try_bundle(self, output_dir: str, _options=None, **_kwargs) -> bool:
        write_asset(self.package, self.requirements, output_dir)
        return True


def function_code(package: str, requirements: tuple[str, ...] = ()) -> lambda_.Code:
    """The asset of one function package (see the module docstring for its layout)."""
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR / package),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=asset_hash(package, requirements),
        bundling=BundlingOptions(
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"),
            local=LocalAssetBundling(package, requirements),
        ),
    )
