"""Lambda code assets built without Docker.

Each function is its own package under `lambdas/`; its asset holds that package at the root
(handler `serialize.handler.handler`) plus any pinned third-party wheels for the Lambda platform
(Python 3.12 on arm64), installed with `pip --platform ... --only-binary=:all:` from PyPI into a
local cache once and copied from there afterwards.
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

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS_DIR = ROOT / "lambdas"
WHEEL_CACHE = ROOT / ".cache" / "lambda-deps"
LAMBDA_PLATFORM = "manylinux2014_aarch64"
LAMBDA_PYTHON = "3.12"
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_12
LAMBDA_ARCHITECTURE = lambda_.Architecture.ARM_64
_IGNORED = ("__pycache__", "*.pyc", ".pytest_cache")


def source_files(package: str) -> list[Path]:
    """The files that make up a function package, in a stable order."""
    base = LAMBDAS_DIR / package
    return sorted(p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def source_hash(package: str, requirements: tuple[str, ...]) -> str:
    """Content hash of the package's source and its pinned requirements: stable across machines."""
    digest = hashlib.sha256()
    for path in source_files(package):
        digest.update(str(path.relative_to(LAMBDAS_DIR)).encode())
        digest.update(path.read_bytes())
    for req in requirements:
        digest.update(req.encode())
    digest.update(f"{LAMBDA_PLATFORM}/{LAMBDA_PYTHON}".encode())
    return digest.hexdigest()


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


@jsii.implements(ILocalBundling)
class PackageWithWheels:
    """Local bundling: copy the function package and its platform wheels into the asset folder."""

    def __init__(self, package: str, requirements: tuple[str, ...]) -> None:
        self.package = package
        self.requirements = requirements

    def try_bundle(self, output_dir: str, _options=None, **_kwargs) -> bool:
        out = Path(output_dir)
        if self.requirements:
            shutil.copytree(install_platform_requirements(self.requirements), out, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns(".complete"))
        shutil.copytree(LAMBDAS_DIR / self.package, out / self.package, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(*_IGNORED))
        return True


def function_code(package: str, requirements: tuple[str, ...] = ()) -> lambda_.Code:
    """The asset for one function package (with its pinned platform wheels, if any)."""
    if not requirements:
        return lambda_.Code.from_asset(
            str(LAMBDAS_DIR),
            exclude=["*", f"!{package}", f"!{package}/**", "**/__pycache__", "**/*.pyc"],
            asset_hash_type=AssetHashType.CUSTOM,
            asset_hash=source_hash(package, ()),
        )
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR / package),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=source_hash(package, requirements),
        bundling=BundlingOptions(
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"),
            local=PackageWithWheels(package, requirements),
        ),
    )
