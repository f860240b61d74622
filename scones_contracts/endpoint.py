"""The SageMaker endpoint as its callers see it.

The model stack creates one production variant named `VARIANT_NAME`; SageMaker names the
variant's CloudWatch dimension, the autoscaling resource and the data-capture folder after it.
The classify function sends `REQUEST_CONTENT_TYPE` and asks for `RESPONSE_CONTENT_TYPE`; the
answer is a JSON list of probabilities in `classes.CLASS_NAMES` order.
"""
from __future__ import annotations

VARIANT_NAME = "AllTraffic"
REQUEST_CONTENT_TYPE = "image/png"
RESPONSE_CONTENT_TYPE = "application/json"
