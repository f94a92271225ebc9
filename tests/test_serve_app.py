"""The V2 app in process (httpx ASGI transport, lifespan run): endpoints, errors, batching."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import numpy as np
import pytest
from serve_support import column_inputs, sample_rows, train_model

from release.model.persist import load_model
from release.model.predict import frame_from_records, predict
from release.serve.app import BatchOptions, Faults, create_app
from release.serve.commands import build_server


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    train_model(out)
    return out


def run_app(
    model_dir,
    fn: Callable[[httpx.AsyncClient, Any], Awaitable[Any]],
    *,
    batch: BatchOptions | None = None,
    faults: Faults | None = None,
) -> Any:
    server = build_server(str(model_dir), version_label="v1.0.0", batch=batch, faults=faults)
    app = create_app(server)

    async def main() -> Any:
        async with server.lifespan(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://serve") as client:
                return await fn(client, server)

    return asyncio.run(main())


def expected(model_dir, df) -> tuple[np.ndarray, np.ndarray]:
    from release.model.persist import read_metadata

    meta = read_metadata(model_dir / "model.json")
    pipeline = load_model(model_dir / "model.skops")
    columns = {
        c: [None if isinstance(v, float) and np.isnan(v) else v for v in df[c].tolist()]
        for c in df.columns
    }
    labels, proba = predict(pipeline, meta, frame_from_records(meta, columns))
    return labels, proba


def test_health_metadata_and_routing(model_dir):
    async def check(client: httpx.AsyncClient, server: Any) -> None:
        assert (await client.get("/v2/health/live")).json() == {"live": True}
        ready = await client.get("/v2/health/ready")
        assert ready.status_code == 200 and ready.json() == {"ready": True}
        meta = (await client.get("/v2")).json()
        assert meta["name"] == "release" and meta["models"][0]["versions"] == ["v1.0.0"]
        model = await client.get("/v2/models/model")
        assert model.status_code == 200
        body = model.json()
        assert body["name"] == "model" and body["versions"] == ["v1.0.0"]
        assert [i["name"] for i in body["inputs"]] == [
            "age",
            "income",
            "credit_score",
            "region",
            "employment_type",
        ]
        assert {i["name"]: i["datatype"] for i in body["inputs"]}["region"] == "BYTES"
        assert body["outputs"][1] == {
            "name": "probabilities",
            "datatype": "FP64",
            "shape": [-1, 2],
        }
        assert (await client.get("/v2/models/model/versions/v1.0.0")).json() == body
        assert (await client.get("/v2/models/model/ready")).json()["ready"] is True
        for path in (
            "/v2/models/other",
            "/v2/models/model/versions/v9.9.9",
            "/v2/models/other/ready",
            "/nowhere",
        ):
            answer = await client.get(path)
            assert answer.status_code == 404, path
            assert "error" in answer.json(), path
        wrong_method = await client.get("/v2/models/model/infer")
        assert wrong_method.status_code == 405 and "error" in wrong_method.json()

    run_app(model_dir, check)


def test_column_and_tensor_requests_match_the_pipeline(model_dir):
    df = sample_rows(7)
    labels, proba = expected(model_dir, df)
    table = [
        [None if isinstance(v, float) and np.isnan(v) else v for v in row]
        for row in df.itertuples(index=False)
    ]

    async def check(client: httpx.AsyncClient, server: Any) -> None:
        by_column = await client.post(
            "/v2/models/model/infer", json={"id": "req-7", "inputs": column_inputs(df)}
        )
        assert by_column.status_code == 200, by_column.text
        body = by_column.json()
        assert body["id"] == "req-7"
        assert body["model_name"] == "model" and body["model_version"] == "v1.0.0"
        out = {o["name"]: o for o in body["outputs"]}
        assert out["predict"]["shape"] == [7] and out["predict"]["datatype"] == "INT64"
        assert out["predict"]["data"] == labels.tolist()
        assert out["probabilities"]["shape"] == [7, 2]
        np.testing.assert_allclose(out["probabilities"]["data"], proba.ravel())

        tensor = await client.post(
            "/v2/models/model/versions/v1.0.0/infer",
            json={
                "inputs": [{"name": "rows", "datatype": "BYTES", "shape": [7, 5], "data": table}]
            },
        )
        assert tensor.status_code == 200, tensor.text
        assert "id" not in tensor.json()
        assert tensor.json()["outputs"] == body["outputs"]

        only = await client.post(
            "/v2/models/model/infer",
            json={"inputs": column_inputs(df), "outputs": [{"name": "predict"}]},
        )
        assert [o["name"] for o in only.json()["outputs"]] == ["predict"]

    run_app(model_dir, check)


BAD_BODIES: list[tuple[Any, int, str]] = [
    (b"", 400, "empty"),
    (
        b'{"inputs": [{"name": "t", "datatype": "BYTES", "shape": [1, 5],'
        b' "data": [1e999, 2, 3, "n", "s"]}]}',
        400,
        "not a finite number",
    ),
    (
        b'{"inputs": [{"name": "t", "datatype": "BYTES", "shape": [1, 5],'
        b' "data": [NaN, 2, 3, "n", "s"]}]}',
        400,
        "NaN is not JSON",
    ),
    (b"{oops", 400, "not valid JSON"),
    ({"inputs": "x"}, 400, "non-empty list"),
    ({"inputs": [{"name": "age", "datatype": "FP64", "shape": [1], "data": [1]}]}, 400, "missing"),
    (
        {"inputs": [{"name": "t", "datatype": "BYTES", "shape": [1, 4], "data": [1, 2, 3, 4]}]},
        400,
        "5 (age",
    ),
    (
        {"inputs": [{"name": "t", "datatype": "FP64", "shape": [1, 5], "data": [1, 2, 3, 4, 5]}]},
        400,
        "BYTES",
    ),
    (
        {
            "inputs": [
                {"name": "t", "datatype": "BYTES", "shape": [1, 5], "data": [1, 2, 3, "n", {}]}
            ]
        },
        400,
        "not a category",
    ),
    (
        {
            "inputs": [
                {"name": "t", "datatype": "BYTES", "shape": [1, 5], "data": ["old", 2, 3, "n", "s"]}
            ]
        },
        400,
        "not a number",
    ),
]


def test_bad_input_is_4xx_with_error_never_500(model_dir):
    async def check(client: httpx.AsyncClient, server: Any) -> None:
        for body, status, fragment in BAD_BODIES:
            kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
            answer = await client.post("/v2/models/model/infer", **kwargs)
            assert answer.status_code == status, (body, answer.text)
            assert fragment in answer.json()["error"], (body, answer.json())
        unknown = await client.post("/v2/models/nope/infer", json={"inputs": []})
        assert unknown.status_code == 404 and "unknown model 'nope'" in unknown.json()["error"]
        version = await client.post("/v2/models/model/versions/v2.0.0/infer", json={})
        assert version.status_code == 404 and "unknown version" in version.json()["error"]

    run_app(model_dir, check)


def test_concurrent_requests_are_batched_and_each_gets_its_own_rows(model_dir):
    df = sample_rows(60, seed=3)
    labels, proba = expected(model_dir, df)
    bad = {"inputs": [{"name": "t", "datatype": "BYTES", "shape": [1, 5], "data": ["x"] * 5}]}

    async def check(client: httpx.AsyncClient, server: Any) -> None:
        async def one(i: int) -> httpx.Response:
            return await client.post(
                "/v2/models/model/infer",
                json={"id": f"r{i}", "inputs": column_inputs(df.iloc[i : i + 1])},
            )

        tasks = [one(i) for i in range(60)]
        tasks.insert(30, client.post("/v2/models/model/infer", json=bad))
        answers = await asyncio.gather(*tasks)
        bad_answer = answers.pop(30)
        assert bad_answer.status_code == 400 and "not a number" in bad_answer.json()["error"]
        for i, answer in enumerate(answers):
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["id"] == f"r{i}"
            out = {o["name"]: o["data"] for o in body["outputs"]}
            assert out["predict"] == [labels[i]]
            np.testing.assert_allclose(out["probabilities"], proba[i])
        text = (await client.get("/metrics")).text
        count = _sample(text, "model_batch_size_count")
        total = _sample(text, "model_batch_size_sum")
        assert total >= 60 and count < 60  # fewer prediction calls than requests (the bad
        # request is refused while decoding, before it reaches the batcher)

    run_app(model_dir, check, batch=BatchOptions(max_batch_size=64, max_wait_ms=5))


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


def test_metrics_expose_the_contract_names_with_labels(model_dir):
    df = sample_rows(1)

    async def check(client: httpx.AsyncClient, server: Any) -> str:
        await client.post("/v2/models/model/infer", json={"inputs": column_inputs(df)})
        await client.post("/v2/models/model/infer", content=b"{")
        answer = await client.get("/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        return answer.text

    text = run_app(model_dir, check)
    labels = 'model="model",version="v1.0.0"'
    assert f'model_requests_total{{{labels},status="200"}} 1.0' in _sorted_labels(text)
    assert f'model_requests_total{{{labels},status="400"}} 1.0' in _sorted_labels(text)
    assert "model_request_duration_seconds_bucket{" in text
    assert f"model_request_duration_seconds_count{{{labels}}} 2.0" in _sorted_labels(text)
    assert f"model_in_flight_requests{{{labels}}} 0.0" in _sorted_labels(text)
    assert "model_batch_size_bucket{" in text
    assert "process_cpu_seconds_total" in text
    assert "process_resident_memory_bytes" in text


def _sorted_labels(text: str) -> str:
    """Metric lines with labels in a fixed order (model, version, then the rest)."""
    out = []
    for line in text.splitlines():
        if "{" not in line or line.startswith("#"):
            continue
        name, rest = line.split("{", 1)
        labels, value = rest.rsplit("} ", 1)
        parts = dict(p.split("=", 1) for p in labels.split(","))
        order = ["model", "version", *sorted(k for k in parts if k not in ("model", "version"))]
        joined = ",".join(f"{k}={parts[k]}" for k in order if k in parts)
        out.append(f"{name}{{{joined}}} {value}")
    return "\n".join(out)


def test_injected_faults_answer_500_and_add_latency(model_dir):
    df = sample_rows(1)

    async def failing(client: httpx.AsyncClient, server: Any) -> None:
        answer = await client.post("/v2/models/model/infer", json={"inputs": column_inputs(df)})
        assert answer.status_code == 500 and "injected" in answer.json()["error"]
        text = (await client.get("/metrics")).text
        labels = 'model="model",version="v1.0.0"'
        assert f'model_requests_total{{{labels},status="500"}} 1.0' in _sorted_labels(text)

    run_app(model_dir, failing, faults=Faults(error_rate=1.0))

    async def slow(client: httpx.AsyncClient, server: Any) -> float:
        start = time.perf_counter()
        answer = await client.post("/v2/models/model/infer", json={"inputs": column_inputs(df)})
        assert answer.status_code == 200
        return time.perf_counter() - start

    assert run_app(model_dir, slow, faults=Faults(delay_ms=150)) >= 0.15

    async def half(client: httpx.AsyncClient, server: Any) -> list[int]:
        codes = []
        for _ in range(40):
            r = await client.post("/v2/models/model/infer", json={"inputs": column_inputs(df)})
            codes.append(r.status_code)
        return codes

    codes = run_app(model_dir, half, faults=Faults(error_rate=0.5, seed=7))
    assert set(codes) == {200, 500} and 8 <= codes.count(500) <= 32


def test_mutated_requests_never_get_a_500(model_dir):
    """Random corruptions of a valid request: every answer is 200 or a 4xx with an error."""
    import copy
    import random

    base = {"id": "x", "inputs": column_inputs(sample_rows(2))}
    junk: list[Any] = [None, {}, [], "x", 1e308, -1, True, [[1]], [None, None], "FP64", 10**400]
    rng = random.Random(11)

    def mutate() -> Any:
        req = copy.deepcopy(base)
        for _ in range(rng.randint(1, 3)):
            target = rng.choice(req["inputs"])
            key = rng.choice(["name", "shape", "datatype", "data", "drop", "value", "top"])
            if key == "drop":
                req["inputs"].remove(target) if len(req["inputs"]) > 1 else None
            elif key == "value":
                target["data"][rng.randrange(2)] = copy.deepcopy(rng.choice(junk))
            elif key == "top":
                req[rng.choice(["inputs", "outputs", "id", "parameters"])] = copy.deepcopy(
                    rng.choice(junk)
                )
                if not isinstance(req.get("inputs"), list):
                    return req
            else:
                target[key] = copy.deepcopy(rng.choice(junk))
        return req

    async def check(client: httpx.AsyncClient, server: Any) -> list[int]:
        bodies = [mutate() for _ in range(150)]
        answers = await asyncio.gather(
            *(client.post("/v2/models/model/infer", json=b) for b in bodies)
        )
        for body, answer in zip(bodies, answers):
            assert answer.status_code < 500, (body, answer.text)
            if answer.status_code != 200:
                assert isinstance(answer.json()["error"], str)
        return [a.status_code for a in answers]

    codes = run_app(model_dir, check)
    assert codes.count(400) > 100  # most mutations are caught, by the protocol or the schema
