"""Image URLs for the console: who signs them is a seam.

In AWS the default signer presigns an S3 GET of the uploaded version, short-lived
(IMAGE_URL_EXPIRY_SECONDS), answered with the content type the workflow recorded from the image's
own bytes (never the uploader's) and `inline`. The local review server installs its own signer
(`install_image_url_signer`), returning URLs it serves itself; `reset_image_url_signer()` goes back
to the default.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class ImageRef:
    """The uploaded object a review is about, and the content type to serve it with."""

    bucket: str
    key: str
    version_id: str | None
    content_type: str


ImageUrlSigner = Callable[[ImageRef], str]
_lock = threading.Lock()
_installed: ImageUrlSigner | None = None


def install_image_url_signer(signer: ImageUrlSigner) -> None:
    """Use `signer` for every image URL until `reset_image_url_signer()`."""
    global _installed
    with _lock:
        _installed = signer


def reset_image_url_signer() -> None:
    global _installed
    with _lock:
        _installed = None


def installed_signer() -> ImageUrlSigner | None:
    with _lock:
        return _installed


class S3Presigner:
    """The default signer: a presigned S3 GET of that version, valid `expiry_seconds`."""

    def __init__(self, client: Any, expiry_seconds: int) -> None:
        self.client = client
        self.expiry_seconds = expiry_seconds

    def __call__(self, image: ImageRef) -> str:
        params = {"Bucket": image.bucket, "Key": image.key, "ResponseContentType": image.content_type,
                  "ResponseContentDisposition": "inline"}
        if image.version_id:
            params["VersionId"] = image.version_id
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=self.expiry_seconds)
