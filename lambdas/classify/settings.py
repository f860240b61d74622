"""The classify function's settings, from the environment the workflow stack sets.

    ENDPOINT_NAME              SageMaker endpoint name
    CLASS_NAMES                comma-separated class names in the model's output order
    MODEL_VERSION              reported in the output and as the ModelVersion metric dimension
    INVOKE_TIMEOUT_SECONDS     botocore read timeout for InvokeEndpoint (below the function timeout
                               minus CONNECT_TIMEOUT_SECONDS)
    CONNECT_TIMEOUT_SECONDS    optional, botocore connect timeout (default 5)
    PROBABILITY_SUM_TOLERANCE  optional, allowed |sum(probabilities) - 1| (default 0.01)
    AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME / AWS_ENDPOINT_URL   optional endpoint override (local runtime)
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scones_contracts.classes import CLASS_NAMES
from scones_contracts.env import Environment

DEFAULT_CONNECT_TIMEOUT_SECONDS = 5.0
DEFAULT_SUM_TOLERANCE = 0.01


@dataclass(frozen=True)
class Settings:
    endpoint_name: str
    model_version: str
    invoke_timeout_seconds: float
    class_names: tuple[str, ...] = CLASS_NAMES
    connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS
    sum_tolerance: float = DEFAULT_SUM_TOLERANCE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        read = Environment(env)
        return cls(
            endpoint_name=read.text("ENDPOINT_NAME"),
            model_version=read.text("MODEL_VERSION"),
            invoke_timeout_seconds=read.number("INVOKE_TIMEOUT_SECONDS", positive=True),
            class_names=read.class_names("CLASS_NAMES"),
            connect_timeout_seconds=read.number("CONNECT_TIMEOUT_SECONDS", DEFAULT_CONNECT_TIMEOUT_SECONDS,
                                                positive=True),
            sum_tolerance=read.number("PROBABILITY_SUM_TOLERANCE", DEFAULT_SUM_TOLERANCE, positive=True),
        )
