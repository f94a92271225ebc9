"""Bad input as a matrix: settings files, model files and V2 requests (issue 16).

Every settings and model case runs the real CLI entry point in process and asserts the
exit code, exactly one ``Error:`` line, no traceback and no change to any file. Every V2
case asserts the HTTP status and a one-line ``{"error": ...}`` body from the real app.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import struct
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_support import column_inputs, sample_rows, train_model

from release.cli import main


# ------------------------------------------------------------------------ helpers
def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its sha256 (to prove nothing changed)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run ``release ARGS`` in process; return (exit code, stderr)."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def assert_one_error(code: int, err: str, expected_code: int, fragment: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert code == expected_code, err
    assert len(errors) == 1, err
    assert "Traceback" not in err, err
    assert fragment in errors[0], errors[0]
    assert len(errors[0]) < 500, errors[0]


# ------------------------------------------------------------------------ settings
def _bomb(levels: int = 9, width: int = 10) -> str:
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * width)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + f"\ndata:\n  exclude: *a{levels - 1}\n"


def _nested(depth: int) -> str:
    return "train:\n  params:\n    x: " + "[" * depth + "]" * depth + "\n"


SETTINGS_CASES: list[tuple[str, str, str]] = [
    ("empty", "", "is empty"),
    ("comments-only", "# nothing here\n", "is empty"),
    ("duplicate-top", "data: {rows: 200}\ndata: {rows: 300}\n", "duplicate key 'data'"),
    ("duplicate-nested", "evaluate:\n  seed: 1\n  seed: 2\n", "duplicate key 'seed'"),
    ("python-tag", "data: !!python/object/apply:os.system ['id']\n", "tags are not allowed"),
    ("str-tag", "data: {target: !!str default}\n", "tags are not allowed"),
    ("local-tag", "data: !custom {rows: 200}\n", "tags are not allowed"),
    ("alias-bomb", _bomb(levels=12), "more than 100 aliases"),
    ("expansion-bomb", _bomb(levels=6, width=12), "expands to more than"),
    ("deep-nesting", _nested(40), "nested more than"),
    ("huge-file", "# " + "x" * 600_000 + "\n", "at most 524288"),
    ("bad-syntax", "data: [unclosed\n", "is not valid YAML"),
    ("top-level-list", "- data\n", "top level"),
    ("unknown-key", "dataa: {}\n", "unknown key dataa"),
    ("bootstrap-1e9", "evaluate: {bootstrap: 1e9}\n", "evaluate.bootstrap = 1000000000"),
    ("bootstrap-int", "evaluate: {bootstrap: 1000000000}\n", "allowed 0 to 100,000"),
    ("rows-2e9", "data: {rows: 2e9}\n", "data.rows = 2000000000 is out of range"),
    ("rows-small", "data: {rows: 5}\n", "data.rows = 5 is invalid"),
    ("test-size", "data: {test_size: 1.5}\n", "data.test_size"),
    ("seed-negative", "data: {seed: -1}\n", "data.seed = -1 is out of range"),
    ("seed-huge", "evaluate: {seed: 1099511627776}\n", "evaluate.seed"),
    ("canary-weight", "release: {deploy: {canary: {steps: [{weight: 0}]}}}\n", "weight"),
    (
        "canary-requests",
        "release: {deploy: {canary: {steps: [{weight: 10, min_requests: 1e12}]}}}\n",
        "release.deploy.canary.steps[0].min_requests",
    ),
    ("judge-alpha", "release: {deploy: {judge: {alpha: 2}}}\n", "release.deploy.judge.alpha"),
    ("threads", "release: {deploy: {server: {threads: 1000}}}\n", "allowed 1 to 256"),
    ("router-port", "release: {deploy: {router_port: 70000}}\n", "router_port"),
    ("serve-body", "serve: {max_body_mb: 0}\n", "serve.max_body_mb"),
    ("serve-unknown", "serve: {unknown_category: maybe}\n", "serve.unknown_category"),
    ("null-rate", "validate: {null_rate: {income: 2}}\n", "validate.null_rate.income"),
    ("max-iter", "train: {params: {max_iter: 1e9}}\n", "train.params.max_iter"),
    ("drift-nan", "monitor: {drift: {alpha: .nan}}\n", "monitor.drift.alpha"),
    ("explain-depth", "evaluate: {explain: {surrogate_depth: 500}}\n", "surrogate_depth"),
    ("signals", "monitor: {signals: {max_p99_ms: 1e300}}\n", "max_p99_ms"),
    ("long-value", "data: {rows: [" + "1, " * 5000 + "1]}\n", "data.rows = [1, 1, 1"),
    ("missing-weight", "release: {deploy: {shadow: {min_requests: 5}}}\n", "weight is missing"),
]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [pytest.param(t, f, id=name) for name, t, f in SETTINGS_CASES],
)
def test_bad_settings_give_one_error_line_and_change_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str,
    fragment: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(text)
    before = snapshot(tmp_path)
    code, err = run_cli(["data", "prepare", "--params", "params.yaml"], capsys)
    assert_one_error(code, err, 2, fragment)
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------- model files
@pytest.fixture(scope="module")
def good_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("good-model")
    train_model(out)
    return out


def _npy(shape: tuple[int, ...], data: bytes, descr: str = "<f8") -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    header = header.ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data


def _rewrite(src: Path, dst: Path, change: Any) -> None:
    """Copy a skops zip, replacing members by ``change(name, data) -> data | None``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)


def _first_npy(name: str, data: bytes, new: bytes) -> bytes | None:
    return new if name == "000001.npy" else data


def _craft(kind: str, model: Path, meta: dict[str, Any]) -> dict[str, Any] | None:
    """Make the model dir's file bad in one way; return new metadata (None: keep)."""
    skops = model / "model.skops"
    original = model / "original.skops"
    shutil.move(skops, original)
    if kind == "pickle":
        skops.write_bytes(b"\x80\x04\x95cos\nsystem\n.")
    elif kind == "truncated":
        skops.write_bytes(original.read_bytes()[:2000])
    elif kind == "bomb":
        _rewrite(original, skops, lambda n, d: d)
        with zipfile.ZipFile(skops, "a", zipfile.ZIP_DEFLATED) as zf:
            with zf.open("zeros.bin", "w") as fh:
                for _ in range(70):
                    fh.write(bytes(1024 * 1024))
    elif kind == "huge-shape":  # the crafted .npy: 2.4 GB declared, a few bytes sent
        _rewrite(original, skops, lambda n, d: _first_npy(n, d, _npy((300_000_000,), b"\0" * 8)))
    elif kind == "shape-mismatch":
        _rewrite(original, skops, lambda n, d: _first_npy(n, d, _npy((10,), b"\0" * 40)))
    elif kind == "object-array":
        _rewrite(original, skops, lambda n, d: _first_npy(n, d, _npy((1,), b"", "|O")))
    elif kind == "bad-npy":
        _rewrite(original, skops, lambda n, d: _first_npy(n, d, b"not an array"))
    elif kind == "untrusted":

        def evil(name: str, data: bytes) -> bytes:
            if name != "schema.json":
                return data
            doc = json.loads(data)
            doc["__module__"], doc["__class__"] = "os", "system"
            return json.dumps(doc).encode()

        _rewrite(original, skops, evil)
    else:
        shutil.move(original, skops)
        return None
    original.unlink()
    return {**meta, "sha256": hashlib.sha256(skops.read_bytes()).hexdigest()}


MODEL_CASES: list[tuple[str, Any, str]] = [
    ("pickle", None, "not a skops file"),
    ("truncated", None, "not a skops file"),
    ("bomb", None, "unpacks to"),
    ("huge-shape", None, "declares a 2400000000-byte array"),
    ("shape-mismatch", None, "declares shape (10,)"),
    ("object-array", None, "holds Python objects"),
    ("bad-npy", None, "no valid array header"),
    ("untrusted", None, "untrusted types: os.system"),
    ("meta", {"features": "x"}, "features: 'x' is not of type 'array'"),
    ("meta", {"features": []}, "features"),
    ("meta", {"features": [{"name": "age", "kind": "text"}]}, "features.0.kind"),
    ("meta", {"features": [{"kind": "numeric"}]}, "'name' is a required property"),
    ("meta", {"classes": {"a": 1}}, "classes"),
    ("meta", {"task": "ranking"}, "task"),
    ("meta", {"sha256": "abc"}, "sha256"),
    ("meta", {"features": [{"name": "a", "kind": "numeric"}] * 2}, "features name a twice"),
    (
        "meta",
        {"features": [{"name": "region", "kind": "categorical", "categories": [1, 2]}]},
        "features.0.categories",
    ),
    ("meta-text", "[" * 100_000, "model.json"),
    ("meta-text", "not json", "is not JSON"),
    ("meta-text", "[1, 2]", "is not of type 'object'"),
    (
        "meta",
        {"features": [{"name": "colour", "kind": "numeric"}, {"name": "size", "kind": "numeric"}]},
        "the model fails on a sample row",
    ),
]


@pytest.mark.parametrize(
    ("kind", "change", "fragment"),
    [pytest.param(k, c, f, id=f"{k}-{i}") for i, (k, c, f) in enumerate(MODEL_CASES)],
)
def test_bad_model_files_give_one_error_line_and_change_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    good_model: Path,
    kind: str,
    change: Any,
    fragment: str,
) -> None:
    model = tmp_path / "models"
    shutil.copytree(good_model, model)
    meta = json.loads((model / "model.json").read_text())
    if kind == "meta":
        (model / "model.json").write_text(json.dumps({**meta, **change}))
    elif kind == "meta-text":
        (model / "model.json").write_text(change)
    else:
        new_meta = _craft(kind, model, meta)
        if new_meta is not None:
            (model / "model.json").write_text(json.dumps(new_meta))
    before = snapshot(tmp_path)
    code, err = run_cli(["serve", "--model", str(model), "--port", "0"], capsys)
    assert_one_error(code, err, 2, fragment)
    assert snapshot(tmp_path) == before


def test_an_oversized_model_file_is_refused_before_it_is_read(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    good_model: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from release.model import archive

    monkeypatch.setattr(archive, "MAX_FILE_BYTES", 1000)
    code, err = run_cli(["serve", "--model", str(good_model), "--port", "0"], capsys)
    assert_one_error(code, err, 2, "model files may be at most 1000")


# ---------------------------------------------------------------------- V2 requests
def _inputs(**override: Any) -> dict[str, Any]:
    """One valid row by column, with some columns' (datatype, data) replaced."""
    inputs = column_inputs(sample_rows(1))
    for tensor in inputs:
        if tensor["name"] in override:
            tensor["datatype"], tensor["data"] = override[tensor["name"]]
    return {"inputs": inputs}


def _table(row: list[Any], datatype: str = "BYTES") -> dict[str, Any]:
    return {"inputs": [{"name": "t", "datatype": datatype, "shape": [1, 5], "data": row}]}


ROW = [40, 50_000, 650, "north", "salaried"]
DEEP: list[Any] = []
for _ in range(40):
    DEEP = [DEEP]
NAN_BODY = b'{"inputs": [{"name": "t", "datatype": "FP64", "shape": [1], "data": [NaN]}]}'
V2_CASES: list[tuple[str, Any, int, str]] = [
    ("int64-fraction", _inputs(age=("INT64", [40.5])), 400, "not an integer"),
    ("int64-ok", _inputs(age=("INT64", [40])), 200, ""),
    ("int8-range", _inputs(age=("INT8", [300])), 400, "out of range for INT8"),
    ("int64-range", _inputs(age=("INT64", [2**63])), 400, "out of range for INT64"),
    ("uint8-negative", _inputs(age=("UINT8", [-5])), 400, "out of range for UINT8"),
    ("uint8-ok", _inputs(age=("UINT8", [255])), 200, ""),
    ("uint64-max", _inputs(age=("UINT64", [2**64 - 1])), 200, ""),
    ("uint64-over", _inputs(age=("UINT64", [2**64])), 400, "out of range for UINT64"),
    ("uint16-float", _inputs(age=("UINT16", [1.0])), 400, "not an integer"),
    ("int-bool", _inputs(age=("INT32", [True])), 400, "not an integer"),
    ("bool-ok", _inputs(age=("BOOL", [True])), 200, ""),
    ("bool-number", _inputs(age=("BOOL", [1])), 400, "not a boolean"),
    ("bool-categorical", _inputs(region=("BOOL", [True])), 400, "unknown category 'True'"),
    ("bytes-number", _inputs(region=("BYTES", [5])), 400, "unknown category '5'"),
    ("bytes-bool", _inputs(region=("BYTES", [True])), 400, "not a category"),
    ("bytes-object", _inputs(region=("BYTES", [{"a": 1}])), 400, "not a category"),
    ("bytes-list", _inputs(region=("BYTES", [[["north"]]])), 400, "nested"),
    ("bytes-numeric-col", _inputs(age=("BYTES", ["40"])), 400, "is numeric"),
    ("fp64-string", _inputs(age=("FP64", ["40"])), 400, "not a number"),
    ("fp32-range", _inputs(income=("FP32", [1e39])), 400, "too large for FP32"),
    ("fp16-range", _inputs(income=("FP16", [70000])), 400, "too large for FP16"),
    ("fp16-ok", _inputs(income=("FP16", [650.5])), 200, ""),
    ("fp64-null", _inputs(income=("FP64", [None])), 200, ""),
    ("fp64-bool", _inputs(income=("FP64", [False])), 400, "not a number"),
    ("unknown-category", _inputs(region=("BYTES", ["mars"])), 400, "unknown category 'mars'"),
    ("table-ok", _table(ROW), 200, ""),
    ("table-category-int", _table([40, 50_000, 650, 7.0, "salaried"]), 400, "category '7'"),
    ("table-category-null", _table([40, 50_000, 650, None, "salaried"]), 200, ""),
    ("table-unknown", _table([40, 50_000, 650, "north", "astronaut"]), 400, "'astronaut'"),
    ("table-number-string", _table(["40", 50_000, 650, "north", "salaried"]), 400, "not a number"),
    ("table-int-type", _table([40, 50_000, 650, 1, 2], "INT64"), 400, "BYTES"),
    ("deep-nesting", b"[" * 200_000 + b"]" * 200_000, 400, "nests 200000 levels"),
    ("deep-params", {**_table(ROW), "parameters": {"x": DEEP}}, 400, "at most 32"),
    ("escaped-brackets", {**_table(ROW), "id": '\\"' + "[" * 40}, 200, ""),
    ("nan", NAN_BODY, 400, "NaN"),
    ("empty", b"", 400, "empty"),
    ("not-json", b"{oops", 400, "not valid JSON"),
    ("huge-int", NAN_BODY.replace(b"NaN", b"9" * 5000), 400, "not valid JSON"),
    ("id-number", {**_table(ROW), "id": 5}, 400, "'id' must be a string"),
]


@pytest.fixture(scope="module")
def app_server(good_model: Path) -> Any:
    from release.serve.app import create_app
    from release.serve.commands import build_server

    server = build_server(str(good_model), version_label="v1.0.0")
    return server, create_app(server)


def with_client(server: Any, fn: Any, app: Any = None) -> Any:
    """Run ``await fn(client)`` against the server's app, its lifespan started."""
    from release.serve.app import create_app

    async def go() -> Any:
        asgi = app or create_app(server)
        async with server.lifespan(asgi):
            transport = httpx.ASGITransport(app=asgi)
            async with httpx.AsyncClient(transport=transport, base_url="http://serve") as client:
                return await fn(client)

    return asyncio.run(go())


def _post_all(app_server: Any, bodies: list[Any]) -> list[httpx.Response]:
    server, app = app_server

    async def each(client: httpx.AsyncClient) -> list[httpx.Response]:
        out = []
        for body in bodies:
            kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
            out.append(await client.post("/v2/models/model/infer", **kwargs))
        return out

    return with_client(server, each, app)


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [pytest.param(b, s, f, id=name) for name, b, s, f in V2_CASES],
)
def test_v2_requests_get_the_right_status_and_one_line_error(
    app_server: Any, body: Any, status: int, fragment: str
) -> None:
    (answer,) = _post_all(app_server, [body])
    assert answer.status_code == status, answer.text
    if status != 200:
        error = answer.json()["error"]
        assert fragment in error and "\n" not in error, error
        assert len(error) < 400


def test_unknown_categories_are_served_and_counted_under_warn(good_model: Path) -> None:
    from release.serve.app import create_app
    from release.serve.body import RequestLimits
    from release.serve.commands import build_server

    server = build_server(
        str(good_model), version_label="v1.0.0", limits=RequestLimits(unknown_category="warn")
    )
    answers = _post_all(
        (server, create_app(server)),
        [_inputs(region=("BYTES", ["mars"])), _table([1, 2, 3, "venus", "astronaut"])],
    )
    assert [a.status_code for a in answers] == [200, 200]
    text = server.metrics.render().decode()
    counter = 'model_unknown_categories_total{column="region",model="model",version="v1.0.0"}'
    assert f"{counter} 2.0" in text
    assert 'column="employment_type"' in text


def test_the_body_cap_is_413_with_connection_close(good_model: Path) -> None:
    from release.serve.body import RequestLimits
    from release.serve.commands import build_server

    server = build_server(
        str(good_model), version_label="v1.0.0", limits=RequestLimits(max_body_bytes=1000)
    )
    big = json.dumps(_table(ROW)).encode() + b" " * 2000

    async def chunks() -> Any:  # no Content-Length: only counting can catch it
        for i in range(0, len(big), 100):
            yield big[i : i + 100]

    async def posts(client: httpx.AsyncClient) -> list[httpx.Response]:
        url = "/v2/models/model/infer"
        return [
            await client.post(url, content=big),
            await client.post(url, content=chunks()),
            await client.post(url, content=big[:-1500]),
        ]

    sized, chunked, small = with_client(server, posts)
    for answer in (sized, chunked):
        assert answer.status_code == 413 and "exceeds 1000 bytes" in answer.json()["error"]
        assert answer.headers["connection"] == "close"
    assert small.status_code == 200, small.text  # within the cap


def test_bodies_received_at_once_share_one_budget(good_model: Path) -> None:
    from release.serve.body import RequestLimits
    from release.serve.commands import build_server

    limits = RequestLimits(max_body_bytes=1000, buffer_budget_bytes=1500)
    server = build_server(str(good_model), version_label="v1.0.0", limits=limits)
    body = json.dumps(_table(ROW)).encode()
    body += b" " * (800 - len(body))

    async def slowly() -> Any:
        for i in range(0, len(body), 100):
            await asyncio.sleep(0.01)
            yield body[i : i + 100]

    async def both(client: httpx.AsyncClient) -> list[httpx.Response]:
        url = "/v2/models/model/infer"
        return list(
            await asyncio.gather(
                client.post(url, content=slowly()), client.post(url, content=slowly())
            )
        )

    answers = with_client(server, both)
    assert sorted(a.status_code for a in answers) == [200, 503], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 503)
    assert "retry" in refused.json()["error"] and refused.headers["retry-after"] == "1"
    assert server.requests.buffers.used == 0  # every reservation was given back
