"""Error shapes: botocore (and the classify Lambda) must see locally what they see from AWS."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

import training.serve as serve
from lambdas.classify.errors import EndpointConfigurationError, ModelRejectedInputError
from scones.local.model_server import LOCAL_ACCOUNT_ID
from tests.model_server.server_support import ENDPOINT, classify_payload, first_line


@pytest.mark.parametrize("body, content_type, accept, original_status", [
    (b"\x89PNG\r\n\x1a\n but then garbage", "image/png", "application/json", 400),
    (b"GIF89a nope", "image/gif", "application/json", 415),
    (None, "image/png", "text/csv", 406),
])
def test_a_refused_request_is_a_model_error_with_the_containers_status_and_body(
        server, serving_container, runtime_client, images, body, content_type, accept, original_status):
    body = images[0].png if body is None else body
    client = runtime_client(server.url)
    container = serving_container.invoke(body, {"content-type": content_type, "accept": accept})

    with pytest.raises(client.exceptions.ModelError) as caught:
        client.invoke_endpoint(EndpointName=ENDPOINT, ContentType=content_type, Accept=accept, Body=body)

    response = caught.value.response
    assert response["Error"]["Code"] == "ModelError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response.get("OriginalStatusCode") == original_status == container.status
    assert first_line(response["OriginalMessage"]) == first_line(container.body)
    assert response["Error"]["Message"].startswith(f"Received client error ({original_status}) from primary "
                                                   f'with message "{first_line(container.body)}')
    assert response["LogStreamArn"].startswith(f"arn:aws:logs:us-east-1:{LOCAL_ACCOUNT_ID}:log-group:"
                                               f"/aws/sagemaker/Endpoints/{ENDPOINT}")


def test_a_crashing_handler_is_a_model_error_500(make_server, runtime_client, images, monkeypatch):
    def broken(data, model):
        raise RuntimeError("CUDA is not available on this toaster")

    monkeypatch.setattr(serve, "predict_fn", broken)
    client = runtime_client(make_server().url)

    with pytest.raises(client.exceptions.ModelError) as caught:
        client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png", Body=images[0].png)

    assert caught.value.response.get("OriginalStatusCode") == 500
    assert first_line(caught.value.response["OriginalMessage"]) == "CUDA is not available on this toaster"
    assert caught.value.response["Error"]["Message"].startswith("Received server error (500) from primary")


def test_an_unknown_endpoint_is_a_validation_error(server, runtime_client, images):
    client = runtime_client(server.url)

    with pytest.raises(client.exceptions.ValidationError) as caught:
        client.invoke_endpoint(EndpointName="no-such-endpoint", ContentType="image/png", Body=images[0].png)

    response = caught.value.response
    assert response["Error"]["Code"] == "ValidationError"
    assert response["Error"]["Message"] == f"Endpoint no-such-endpoint of account {LOCAL_ACCOUNT_ID} not found."
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_an_oversized_payload_is_refused_before_inference(server, runtime_client):
    client = runtime_client(server.url)
    before = server.invocation_stats()["by_status"].get("413", 0)

    with pytest.raises(ClientError) as caught:
        client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png", Body=b"\0" * (6 * 1024 * 1024 + 1))

    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert caught.value.response["Error"]["Code"] == "413"
    assert server.invocation_stats()["by_status"]["413"] == before + 1


def test_a_png_the_model_cannot_decode_is_rejected_input_in_the_classify_lambda(server, classify_against, images):
    truncated = images[0].png[:60]  # PNG signature (passes the Lambda's check), body cut short
    classify = classify_against(server)

    with pytest.raises(ModelRejectedInputError) as caught:
        classify(classify_payload(truncated))

    assert "HTTP 400" in str(caught.value)


def test_a_wrong_endpoint_name_is_a_configuration_error_in_the_classify_lambda(server, classify_against, images):
    classify = classify_against(server, endpoint_name="scones-typo")

    with pytest.raises(EndpointConfigurationError) as caught:
        classify(classify_payload(images[0].png))

    assert "Endpoint scones-typo of account" in str(caught.value)
