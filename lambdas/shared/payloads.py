"""Typed payloads of the workflow functions (Powertools parser models), and the one envelope.

Every step's payload is about one uploaded object, `{bucket, key, etag, version_id}`:
`ObjectRef` validates that envelope once; each function's model extends it with its own fields.
Models are strict (no "12" for a number, no true for a probability) and ignore fields they do not
use, so a step can pass the previous step's output on unchanged.
"""
from __future__ import annotations

from typing import Annotated, Any, TypeVar

from aws_lambda_powertools.utilities.parser import BaseModel, ValidationError, parse
from pydantic import AfterValidator, ConfigDict, Field

Model = TypeVar("Model", bound=BaseModel)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or blank")
    return value


def unquoted_etag(value: str | None) -> str | None:
    """S3 API responses quote ETags, S3 events don't: compare and report them unquoted."""
    return (value.strip().strip('"') or None) if value else None


NonBlank = Annotated[str, AfterValidator(_not_blank)]
ETag = Annotated[str | None, AfterValidator(unquoted_etag)]
VersionId = Annotated[str | None, AfterValidator(lambda value: value or None)]
Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class StrictModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class ObjectRef(StrictModel):
    """The uploaded object a payload is about (ETag unquoted, version id None when absent)."""

    bucket: NonBlank
    key: NonBlank
    etag: ETag = None
    version_id: VersionId = None


def describe(error: ValidationError) -> str:
    """Every problem, `'<path>': <what is wrong>, got <value>`, joined with '; '."""
    problems = []
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in item["loc"])
        where = f"'{path}'" if path else "payload"
        message = item["msg"].removeprefix("Value error, ")
        shown = "" if item["type"] == "missing" else f", got {_short(item.get('input'))}"
        problems.append(f"{where}: {message}{shown}")
    return "; ".join(problems)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_payload(event: Any, model: type[Model], error: type[Exception], what: str) -> Model:
    """`event` as `model`, or `error("invalid <what>: ...")` listing every problem."""
    try:
        return parse(event=event, model=model)
    except ValidationError as exc:
        raise error(f"invalid {what}: {describe(exc)}") from None
