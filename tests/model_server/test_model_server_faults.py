"""Fault injection: the injector itself, its HTTP switch, and what botocore and the classify Lambda make of it."""
from __future__ import annotations

import httpx
import pytest
from botocore.exceptions import ClientError

from lambdas.classify.errors import EndpointThrottledError, EndpointUnavailableError
from scones.local.model_server_faults import FAULT_KINDS, FaultInjector
from tests.model_server.server_support import ENDPOINT, classify_payload


def test_a_partial_fault_rate_is_seeded_and_reproducible():
    def pattern(seed: int) -> list[str | None]:
        injector = FaultInjector(rate=0.3, seed=seed)
        return [injector.draw() for _ in range(400)]

    first, again, other = pattern(11), pattern(11), pattern(12)
    failed = [kind for kind in first if kind]
    assert first == again and first != other
    assert 0.2 < len(failed) / len(first) < 0.4
    assert abs(failed.count("throttle") - failed.count("model-error")) <= 1  # half and half


@pytest.mark.parametrize("kind", FAULT_KINDS[1:])
def test_a_single_kind_is_always_that_kind(kind):
    injector = FaultInjector(rate=1.0, kind=kind)

    assert {injector.draw() for _ in range(20)} == {kind}
    assert injector.snapshot() == {"rate": 1.0, "kind": kind, "seed": 0, "injected": 20}


@pytest.mark.parametrize("settings, fragment", [({"rate": 1.5}, "between 0 and 1"), ({"rate": True}, "between 0 and 1"),
                                                 ({"kind": "chaos"}, "fault kind"), ({"seed": 1.5}, "integer")])
def test_bad_settings_name_the_problem(settings, fragment):
    with pytest.raises(ValueError, match=fragment):
        FaultInjector().configure(**settings)


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
def test_bad_fault_settings_are_refused_over_http(server, document):
    response = httpx.post(f"{server.url}/faults", json=document)

    assert response.status_code == 400
    assert response.json()["message"]
    assert httpx.get(f"{server.url}/faults").json()["rate"] == 0.0


@pytest.mark.parametrize("kind, expected", [
    ("throttle", EndpointThrottledError),
    ("model-error", EndpointUnavailableError),
    ("unavailable", EndpointUnavailableError),
])
def test_injected_faults_map_to_the_retryable_classify_errors(make_server, classify_against, images, kind, expected):
    srv = make_server(inject_errors=1.0, fault_kind=kind)
    classify = classify_against(srv)

    with pytest.raises(expected) as caught:
        classify(classify_payload(images[0].png))

    assert ENDPOINT in str(caught.value)
    assert srv.invocation_stats()["faults"] == 1  # exactly one attempt: the state machine owns retries


def test_mixed_faults_give_both_retryable_errors(make_server, classify_against, images):
    srv = make_server(inject_errors=1.0)
    classify = classify_against(srv)
    raised = []
    for _ in range(2):
        with pytest.raises((EndpointThrottledError, EndpointUnavailableError)) as caught:
            classify(classify_payload(images[0].png))
        raised.append(type(caught.value))

    assert raised == [EndpointThrottledError, EndpointUnavailableError]
