"""The SageMaker PyTorch framework images (training and inference) for the configured version.

The image table (`image_uris.py`) is generated from the SageMaker SDK; this module picks the
configured version's entries and puts them into the template as a region mapping, so one
template deploys to any commercial region where both images exist (see `partition`: the image
table also lists China and GovCloud regions, which this app does not deploy to).
"""
from __future__ import annotations

from aws_cdk import Aws, CfnMapping, Stack, Token

from .config import ConfigurationError, SconesConfig
from .image_uris import PYTORCH_IMAGES
from .partition import is_supported_region, require_supported_region

PROCESSOR = "cpu"


def image_entry(config: SconesConfig, scope: str) -> dict:
    """The generated image table entry for the configured PyTorch version (scope: training/inference)."""
    version, py = config.framework.pytorch_version, config.framework.py_version
    try:
        return PYTORCH_IMAGES[version][py][PROCESSOR][scope]
    except KeyError:
        known = sorted(f"{v}/{p}" for v, pys in PYTORCH_IMAGES.items() for p in pys)
        raise ConfigurationError(f"config keys 'pytorch_inference_version'/'pytorch_py_version' = {version!r}/{py!r} are "
                          f"invalid: allowed {known} (regenerate stacks/image_uris.py with scripts/gen_image_uris.py "
                          "to add versions)") from None


def image_regions(config: SconesConfig) -> dict[str, dict[str, str]]:
    """{region: {TrainingImage, TrainingRegistry, InferenceImage, InferenceRegistry}} for the commercial
    regions where both images exist."""
    training, inference = image_entry(config, "training"), image_entry(config, "inference")
    regions = sorted(r for r in set(training["regions"]) & set(inference["regions"]) if is_supported_region(r))
    return {r: {"TrainingImage": training["regions"][r]["uri"], "TrainingRegistry": training["regions"][r]["account"],
                "InferenceImage": inference["regions"][r]["uri"], "InferenceRegistry": inference["regions"][r]["account"]}
            for r in regions}


class FrameworkImages:
    """The `PyTorchImages` mapping of `stack`: image URI and ECR repository per deploy region.

    Fails synthesis for a concrete region outside the commercial partition, or that has no
    training+inference image of the version.
    """

    def __init__(self, stack: Stack, config: SconesConfig) -> None:
        regions = image_regions(config)
        if not Token.is_unresolved(stack.region):
            require_supported_region(stack.region, "SageMaker framework images")
        if not Token.is_unresolved(stack.region) and stack.region not in regions:
            raise ConfigurationError(f"region {stack.region!r} has no SageMaker PyTorch {config.framework.pytorch_version} "
                              f"{config.framework.py_version} training+inference image; regions: {sorted(regions)}")
        self.stack, self.config = stack, config
        self.mapping = CfnMapping(stack, "PyTorchImages", mapping=regions)

    def image(self, scope: str) -> str:
        """The image URI in the deploy region (scope: training/inference)."""
        return self.mapping.find_in_map(Aws.REGION, f"{scope.capitalize()}Image")

    def repository_arn(self, scope: str) -> str:
        """The ARN of the framework's ECR repository that holds the image (scope: training/inference)."""
        entry = image_entry(self.config, scope)
        return self.stack.format_arn(service="ecr", resource="repository", resource_name=entry["repository"],
                                     account=self.mapping.find_in_map(Aws.REGION, f"{scope.capitalize()}Registry"))
