"""Every human label becomes a training example, in the layout the training code reads
(`scones_contracts.labels`), under the bucket's labels prefix:

    <labels_prefix>images/<review id><ext>   a server-side copy of the uploaded version (no bytes pass
                                              through the function; ext sniffed from its first bytes)
    <labels_prefix>lists/<review id>.lst      its one-row list fragment (one object per decision, so
                                              concurrent decisions never overwrite each other)

A reject writes nothing (a photo of no vehicle is not an example of either class). An upload that is
gone, or not a PNG/JPEG/WebP, gets no example either: the decision still counts; the API answers
`labelled_example: null` and the function logs why.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from scones_contracts.classes import CLASS_NAMES
from scones_contracts.labels import fragment_row, image_extension, image_path, list_path

SNIFF_BYTES = 32
# S3 answers a missing key with 403 AccessDenied when the caller may not list the bucket (this
# function may not), so that reads as "gone" too.
GONE = ("NoSuchKey", "NoSuchVersion", "404", "InvalidRange", "AccessDenied", "403")


@dataclass(frozen=True)
class Example:
    list_key: str | None
    image_key: str | None
    skipped: str | None = None  # why no example was written


class LabelledExamples:
    def __init__(self, s3: Any, labels_prefix: str) -> None:
        self.s3 = s3
        self.prefix = labels_prefix

    def write(self, item: dict[str, Any], label: str) -> Example:
        """The example of a decided item (`label` a class name); raises only for unexpected S3 errors."""
        if label not in CLASS_NAMES:
            return Example(None, None, f"a {label!r} decision is not an example")
        source = {"Bucket": item["bucket"], "Key": item["key"]}
        if item.get("version_id"):
            source["VersionId"] = item["version_id"]
        try:
            head = self.s3.get_object(**source, Range=f"bytes=0-{SNIFF_BYTES - 1}")["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in GONE:
                return Example(None, None, f"the upload is gone ({error.response['Error']['Code']})")
            raise
        extension = image_extension(head)
        if extension is None:
            return Example(None, None, "the upload is not a PNG, JPEG or WebP image")
        review = item["id"]
        image_key = self.prefix + image_path(review, extension)
        # No tags copied: uploader-set tags must not steer training data (and copying them would need
        # tag permissions on both objects).
        self.s3.copy_object(Bucket=item["bucket"], Key=image_key, CopySource=source, MetadataDirective="REPLACE",
                            TaggingDirective="REPLACE",
                            ContentType=f"image/{'jpeg' if extension == '.jpg' else extension[1:]}")
        list_key = self.prefix + list_path(review)
        self.s3.put_object(Bucket=item["bucket"], Key=list_key, ContentType="text/plain; charset=utf-8",
                           Body=fragment_row(review, label, image_path(review, extension)).encode("utf-8"))
        return Example(list_key=list_key, image_key=image_key)
