"""The SageMaker Runtime API (InvokeEndpoint) through a real boto3 client: answers, errors, faults."""
from __future__ import annotations

import json
import threading

import httpx
import pytest
from botocore.exceptions import ClientError

import training.serve as serve
from scones.local.model_server import LOCAL_ACCOUNT_ID, FaultInjector

ENDPOINT = "scones-vehicle-classifier"


def handler_error(body, content_type, accept, model) -> serve.InferenceError:
    try:
        serve.output_fn(serve.predict_fn(serve.input_fn(body, content_type), model), accept)
    except serve.InferenceError as exc:
        return exc
    raise AssertionError("the handlers accepted the request")


def test_invoke_endpoint_via_endpoint_url(server, runtime_client, images, predict_locally):
    client = runtime_client(server.url)
    for image in images:
        response = client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png",
                                          Accept="application/json", Body=image.png)

        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert response["ContentType"] == "application/json"
        assert response["InvokedProductionVariant"] == "AllTraffic"
        assert response["ResponseMetadata"]["RequestId"]
        assert json.loads(response["Body"].read()) == json.loads(predict_locally(image.png))


def test_invoke_endpoint_via_the_environment_variable(server, runtime_client, images, predict_locally, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
    client = runtime_client()  # no endpoint_url: boto3 reads the variable, as the classify Lambda does
    image = images[-1]

    response = client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/jpeg", Body=image.jpeg())

    assert client.meta.endpoint_url == server.url
    assert json.loads(response["Body"].read()) == json.loads(predict_locally(image.jpeg(), "image/jpeg"))


def test_verbose_accept_through_the_runtime_api(server, runtime_client, images, reference_model):
    response = runtime_client(server.url).invoke_endpoint(
        EndpointName=ENDPOINT, ContentType="image/png", Accept="application/json; verbose=true", Body=images[0].png)

    body = json.loads(response["Body"].read())
    assert set(body) == {"label", "confidence", "probabilities", "model_version"}
    assert body["model_version"] == reference_model.model_version


@pytest.mark.parametrize("body, content_type, accept, original_status", [
    (b"\x89PNG\r\n\x1a\n but then garbage", "image/png", "application/json", 400),
    (b"GIF89a nope", "image/gif", "application/json", 415),
    (None, "image/png", "text/csv", 406),
])
def test_a_refused_request_is_a_model_error_with_the_original_status(server, runtime_client, images, reference_model,
                                                                     body, content_type, accept, original_status):
    body = images[0].png if body is None else body
    client = runtime_client(server.url)
    expected = handler_error(body, content_type, accept, reference_model)

    with pytest.raises(client.exceptions.ModelError) as caught:
        client.invoke_endpoint(EndpointName=ENDPOINT, ContentType=content_type, Accept=accept, Body=body)

    response = caught.value.response
    assert response["Error"]["Code"] == "ModelError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response.get("OriginalStatusCode") == original_status == expected.status_code
    assert response.get("OriginalMessage") == expected.message
    assert response["Error"]["Message"].startswith(f"Received client error ({original_status}) from primary")
    assert expected.message in response["Error"]["Message"]
    assert response["LogStreamArn"].startswith(f"arn:aws:logs:us-east-1:{LOCAL_ACCOUNT_ID}:log-group:"
                                               f"/aws/sagemaker/Endpoints/{ENDPOINT}")


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


def test_injected_faults_alternate_throttling_and_model_error_500(make_server, runtime_client, images):
    srv = make_server(inject_errors=1.0, fault_seed=3)
    client = runtime_client(srv.url)
    seen = []
    for _ in range(4):
        with pytest.raises(ClientError) as caught:
            client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png", Body=images[0].png)
        response = caught.value.response
        seen.append((response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"],
                     response.get("OriginalStatusCode")))

    assert seen == [("ThrottlingException", 400, None), ("ModelError", 424, 500)] * 2
    stats = srv.invocation_stats()
    assert stats["faults"] == 4 and stats["errors"] == 4 and stats["succeeded"] == 0
    # the container contract is never failed on purpose
    assert httpx.post(f"{srv.url}/invocations", content=images[0].png,
                      headers={"Content-Type": "image/png"}).status_code == 200


def test_a_throttle_is_retried_by_botocore_and_a_model_error_is_raised_as_such(make_server, runtime_client, images):
    srv = make_server(inject_errors=1.0, fault_kind="throttle")
    client = runtime_client(srv.url, attempts=2)

    with pytest.raises(ClientError) as caught:
        client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png", Body=images[0].png)

    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    assert caught.value.response["ResponseMetadata"]["RetryAttempts"] == 1  # botocore saw a retryable throttle
    assert srv.invocation_stats()["faults"] == 2

    srv.set_faults(kind="model-error")
    with pytest.raises(client.exceptions.ModelError) as caught:
        client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png", Body=images[0].png)
    assert caught.value.response.get("OriginalStatusCode") == 500
    assert caught.value.response["Error"]["Message"].startswith("Received server error (500) from primary")


def test_faults_are_set_at_runtime_over_http(make_server, runtime_client, images):
    srv = make_server()
    client = runtime_client(srv.url)
    assert client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png",
                                  Body=images[0].png)["ResponseMetadata"]["HTTPStatusCode"] == 200

    state = httpx.post(f"{srv.url}/faults", json={"rate": 1.0, "kind": "unavailable"}).json()
    assert state["rate"] == 1.0 and state["kind"] == "unavailable"
    assert httpx.get(f"{srv.url}/faults").json() == state
    with pytest.raises(client.exceptions.ServiceUnavailable) as caught:
        client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png", Body=images[0].png)
    assert caught.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503

    assert httpx.post(f"{srv.url}/faults", json={"rate": 0}).json()["rate"] == 0.0
    assert client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png",
                                  Body=images[0].png)["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize("document", [{"rate": 1.5}, {"rate": -0.1}, {"rate": "half"}, {"kind": "chaos"},
                                      {"seed": "x"}, {"rates": 1}, [0.5]])
def test_bad_fault_settings_are_refused(server, document):
    response = httpx.post(f"{server.url}/faults", json=document)

    assert response.status_code == 400
    assert response.json()["message"]
    assert httpx.get(f"{server.url}/faults").json()["rate"] == 0.0


def test_a_partial_fault_rate_is_seeded_and_reproducible():
    def pattern(seed: int) -> list[str | None]:
        injector = FaultInjector(rate=0.3, seed=seed)
        return [injector.draw() for _ in range(400)]

    first, again, other = pattern(11), pattern(11), pattern(12)
    failed = [kind for kind in first if kind]
    assert first == again and first != other
    assert 0.2 < len(failed) / len(first) < 0.4
    assert abs(failed.count("throttle") - failed.count("model-error")) <= 1  # half and half


def test_concurrent_boto3_invocations_match_the_sequential_results(server, runtime_client, images):
    sequential_client = runtime_client(server.url)
    sequential = {i.name: json.loads(sequential_client.invoke_endpoint(
        EndpointName=ENDPOINT, ContentType="image/png", Body=i.png)["Body"].read()) for i in images}
    work = [images[n % len(images)] for n in range(32)]
    results, errors, lock = [], [], threading.Lock()

    def worker(chunk):
        client = runtime_client(server.url)
        for image in chunk:
            try:
                response = client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png", Body=image.png)
                with lock:
                    results.append((image.name, json.loads(response["Body"].read())))
            except Exception as exc:  # collected: an assertion in a thread would be lost
                with lock:
                    errors.append(exc)

    threads = [threading.Thread(target=worker, args=(work[k::8],)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert len(results) == 32
    assert all(probabilities == sequential[name] for name, probabilities in results)


def test_a_crashing_handler_is_a_500_from_the_container_and_a_model_error_500(make_server, runtime_client, images,
                                                                              monkeypatch):
    def broken(data, model):
        raise RuntimeError("CUDA is not available on this toaster")

    monkeypatch.setattr(serve, "predict_fn", broken)
    srv = make_server()
    client = runtime_client(srv.url)

    direct = httpx.post(f"{srv.url}/invocations", content=images[0].png, headers={"Content-Type": "image/png"})
    with pytest.raises(client.exceptions.ModelError) as caught:
        client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png", Body=images[0].png)

    assert direct.status_code == 500
    assert direct.json() == {"code": 500, "type": "RuntimeError", "message": "CUDA is not available on this toaster"}
    assert caught.value.response.get("OriginalStatusCode") == 500
    assert caught.value.response.get("OriginalMessage") == "CUDA is not available on this toaster"
    assert httpx.get(f"{srv.url}/ping").status_code == 200  # one failed request does not make the server unhealthy
