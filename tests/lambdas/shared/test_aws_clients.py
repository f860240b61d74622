"""lambdas.shared.aws_clients: one client per service and configuration, and the public seams."""
from __future__ import annotations

from lambdas.shared import aws_clients


def test_a_client_is_created_once_per_service_and_configuration():
    first = aws_clients.client("s3", connect_timeout=5)
    assert aws_clients.client("s3", connect_timeout=5) is first
    assert aws_clients.client("s3", connect_timeout=6) is not first
    assert aws_clients.client("sqs") is not first
    assert first.meta.config.connect_timeout == 5


def test_install_serves_a_prepared_client_until_reset():
    prepared = object()
    aws_clients.install("sagemaker-runtime", prepared)
    assert aws_clients.client("sagemaker-runtime", read_timeout=20) is prepared
    assert aws_clients.client("sagemaker-runtime", read_timeout=7) is prepared
    before = aws_clients.client("s3")
    aws_clients.reset_clients()
    assert aws_clients.client("sagemaker-runtime") is not prepared
    assert aws_clients.client("s3") is not before


def test_a_reset_client_reads_the_endpoint_override_again(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1")
    assert aws_clients.client("s3").meta.endpoint_url == "http://127.0.0.1:1"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:2")
    assert aws_clients.client("s3").meta.endpoint_url == "http://127.0.0.1:1"  # cached
    aws_clients.reset_clients()
    assert aws_clients.client("s3").meta.endpoint_url == "http://127.0.0.1:2"
