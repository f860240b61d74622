"""Data capture written by the server, read back by lambdas.drift and `scones capture-report`."""
from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from lambdas.drift.capture import parse_paths

ENDPOINT = "scones-vehicle-classifier"
CAPTURE_FILE = re.compile(rf"^{ENDPOINT}/AllTraffic/\d{{4}}/\d{{2}}/\d{{2}}/\d{{2}}/\d{{2}}-\d{{2}}-\d{{3}}-[0-9a-f-]{{36}}\.jsonl$")


def test_successful_invocations_are_captured_in_the_sagemaker_layout(make_server, runtime_client, images, tmp_path):
    capture_root = tmp_path / "capture"
    srv = make_server(capture_dir=capture_root)
    client = runtime_client(srv.url)
    answers = []
    for image in images:
        response = client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png", Body=image.png)
        answers.append(("image/png", len(image.png), tuple(json.loads(response["Body"].read()))))
    jpeg = images[0].jpeg()
    direct = httpx.post(f"{srv.url}/invocations", content=jpeg, headers={"Content-Type": "image/jpeg"})
    answers.append(("image/jpeg", len(jpeg), tuple(direct.json())))
    # failures are not captured
    with_errors = [httpx.post(f"{srv.url}/invocations", content=b"junk", headers={"Content-Type": "image/png"}),
                   httpx.post(f"{srv.url}/endpoints/{ENDPOINT}/invocations", content=b"junk",
                              headers={"Content-Type": "image/png"})]
    assert [r.status_code for r in with_errors] == [400, 424]

    files = sorted(p.relative_to(capture_root).as_posix() for p in capture_root.rglob("*") if p.is_file())
    assert files and all(CAPTURE_FILE.match(name) for name in files), files
    assert srv.capture_dir == str(capture_root / ENDPOINT / "AllTraffic")
    result = parse_paths(capture_root)
    assert result.bad == []
    captured = sorted((r.input_content_type, r.input_bytes, r.probabilities) for r in result.records)
    assert captured == sorted(answers)
    line = json.loads((capture_root / files[0]).read_text().splitlines()[0])
    assert line["captureData"]["endpointInput"]["encoding"] == "BASE64"
    assert line["captureData"]["endpointOutput"] == {"observedContentType": "application/json", "mode": "OUTPUT",
                                                     "data": line["captureData"]["endpointOutput"]["data"],
                                                     "encoding": "JSON"}


def test_capture_report_reads_the_servers_capture(make_server, runtime_client, images, tmp_path, tiny_model_path,
                                                  capsys):
    from scones.cli import main

    capture_root = tmp_path / "capture"
    srv = make_server(capture_dir=capture_root)
    client = runtime_client(srv.url)
    predicted = []
    for image in images * 2:
        probabilities = json.loads(client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png",
                                                          Body=image.png)["Body"].read())
        predicted.append(["bicycle", "motorcycle"][probabilities.index(max(probabilities))])
    capsys.readouterr()

    code = main(["capture-report", "--capture", str(capture_root), "--baseline", str(tiny_model_path), "--json"])

    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert report["records"] == len(predicted) and report["bad_records"] == 0
    assert report["class_counts"] == {"bicycle": predicted.count("bicycle"), "motorcycle": predicted.count("motorcycle")}
    assert report["drift"]["computed"] is True


def test_sampling_percentage_zero_captures_nothing(make_server, runtime_client, images, tmp_path):
    srv = make_server(capture_dir=tmp_path / "capture", sampling_percentage=0)
    client = runtime_client(srv.url)
    for image in images[:3]:
        assert client.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png",
                                      Body=image.png)["ResponseMetadata"]["HTTPStatusCode"] == 200

    assert srv.invocation_stats()["succeeded"] == 3
    assert not any(p.is_file() for p in Path(tmp_path / "capture").rglob("*"))
