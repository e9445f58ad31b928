"""``ctrkit serve`` as a real server process on a free port, spoken to over HTTP: scores equal to
``ctrkit predict``, every malformed request a 4xx with a JSON body, concurrent clients, micro-batches,
reload without failed requests, and a graceful stop."""
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow.compute as pc
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from ctrkit.cli import main                      # noqa: E402
from ctrkit.datasets import adult                # noqa: E402
from ctrkit.runs import load_run                 # noqa: E402
from ctrkit.serve.batcher import MicroBatcher    # noqa: E402

ADULT_TEST = os.path.join(adult.FILES, "adult.test.gz")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``ctrkit serve`` in its own process, ready when /ready answers."""

    def __init__(self, run, *flags):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "ctrkit", "serve", "--run", str(run), "--port",
                                      str(self.port), *map(str, flags)], env=ENV, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.proc.stderr.read())
            try:
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("the server did not become ready")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:   # never leave a server behind
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    quiet = ["--epochs", "1", "--set", "train.threads=1", "--set", "train.progress=false"]
    assert main(["train", "--dataset", "adult", "--model", "deepfm", "--set", "model.dnn_units=[32,16]", *quiet,
                 "--out", str(root / "deepfm")]) == 0
    assert main(["train", "--dataset", "adult", "--model", "afm", "--set", "model.attention_dim=8", *quiet,
                 "--out", str(root / "afm")]) == 0
    return root


@pytest.fixture(scope="module")
def server(runs):
    s = Server(runs / "deepfm", "--max-rows", "2000", "--max-body-bytes", "2000000")
    yield s
    s.stop()


def adult_rows(run_folder):
    """Adult's test split as JSON rows: numbers for numeric fields, strings for the others."""
    run = load_run(str(run_folder))
    table = run.open_data(ADULT_TEST).read_all().drop(["income"])
    numeric = {f.column for f in run.processor.schema.fields if f.type == "numeric"}
    columns = {name: (pc.cast(table.column(name), "float64") if name in numeric else table.column(name)).to_pylist()
               for name in table.column_names}
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


def test_scores_equal_ctrkit_predict_on_every_adult_test_row(server, runs, tmp_path):
    assert main(["predict", "--run", str(runs / "deepfm"), "--input", ADULT_TEST, "--output",
                 str(tmp_path / "p.jsonl")]) == 0
    expected = [json.loads(line)["probability"] for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    rows = adult_rows(runs / "deepfm")
    assert len(rows) == len(expected) == 16281
    got = []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for start in range(0, len(rows), 1500):
            r = client.post("/predict", json={"rows": rows[start:start + 1500]})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["model"] == "deepfm" and body["run"] == "deepfm" and len(body["version"]) == 16
            got += body["probabilities"]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_bulk_rows_as_json_lines(server, runs):
    rows = adult_rows(runs / "deepfm")[:300]
    one = httpx.post(server.url + "/predict", json={"rows": rows}).json()["probabilities"]
    body = "\n".join(json.dumps(r) for r in rows) + "\n"
    r = httpx.post(server.url + "/predict", content=body, headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 200 and r.json()["probabilities"] == one


def test_bulk_rows_as_an_arrow_stream(server, runs):
    import pyarrow as pa

    rows = adult_rows(runs / "deepfm")[:500]
    expected = httpx.post(server.url + "/predict", json={"rows": rows}).json()["probabilities"]

    def post(table):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return httpx.post(server.url + "/predict", content=sink.getvalue().to_pybytes(),
                          headers={"content-type": "application/vnd.apache.arrow.stream"})

    table = pa.Table.from_pylist(rows)
    r = post(table)
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["probabilities"], expected, rtol=0, atol=1e-6)
    assert post(table.drop(["age"])).status_code == 200                            # an absent column: missing
    bad = post(table.set_column(table.column_names.index("workclass"), "workclass", pa.array([[1]] * 500)))
    assert bad.status_code == 422 and "column 'workclass': expected text or integers" in bad.json()["error"]
    bad = post(table.append_column("agee", pa.array([1] * 500)))
    assert bad.status_code == 422 and "unknown column(s) ['agee']" in bad.json()["error"]
    bad = post(table.set_column(table.column_names.index("age"), "age", pa.array([float("nan")] * 500)))
    assert bad.status_code == 422 and "NaN or infinity" in bad.json()["error"]
    r = httpx.post(server.url + "/predict", content=b"\x00garbage",
                   headers={"content-type": "application/vnd.apache.arrow.stream"})
    assert r.status_code == 400 and "not an Arrow IPC stream" in r.json()["error"]


def test_missing_and_unseen_values(server):
    r = httpx.post(server.url + "/predict", json={"rows": [{}, {"age": None, "workclass": "Never-seen-before"}]})
    assert r.status_code == 200 and len(r.json()["probabilities"]) == 2


def malformed_bodies(n, seed=0):
    """``n`` generated bodies, each wrong in one way (or several)."""
    rng = random.Random(seed)
    good = {"age": 39, "workclass": "State-gov", "education": "Bachelors", "hours_per_week": 40}
    bad_values = ["x", "", [1], {"a": 1}, True, 1e400, "NaN", "12 years", [], [None]]
    makers = [
        lambda: rng.randbytes(rng.randint(1, 200)),
        lambda: b"",
        lambda: b"{" * rng.randint(1, 5000),
        lambda: b"[" * 100_000,
        lambda: json.dumps(rng.choice([[], 1, "rows", None, True, [good]])).encode(),
        lambda: json.dumps({"row": [good]}).encode(),
        lambda: json.dumps({"rows": good}).encode(),
        lambda: json.dumps({"rows": [good], "explain": "yes"}).encode(),
        lambda: json.dumps({"rows": [good], "extra": 1}).encode(),
        lambda: json.dumps({"rows": [rng.choice([1, "a", None, [good], []])]}).encode(),
        lambda: json.dumps({"rows": [{**good, "age": rng.choice(bad_values[:4] + bad_values[6:])}]}).encode(),
        lambda: json.dumps({"rows": [{**good, "workclass": rng.choice([[1], {"a": 1}, 1.5, [], True])}]}).encode(),
        lambda: json.dumps({"rows": [{**good, f"unknown_{rng.randint(0, 9)}": 1}]}).encode(),
        lambda: json.dumps({"rows": [good] * rng.randint(2001, 2100)}).encode(),
        lambda: ('{"rows": [{"age": %s}]}' % rng.choice(["NaN", "Infinity", "-Infinity", "1e999"])).encode(),
        lambda: json.dumps({"rows": [good]}).encode()[: rng.randint(1, 40)],
        lambda: json.dumps({"rows": [good]}).encode().replace(b"State", b"St\xffte"),
        lambda: json.dumps({"rows": []}).encode(),
        lambda: b'{"rows": [' + b'{"age": 1},' * 200_000 + b'{}]}',
    ]
    for _ in range(n):
        yield rng.choice(makers)()


def test_a_thousand_malformed_requests_each_get_a_4xx_with_a_json_error(server):
    seen = {}
    with httpx.Client(base_url=server.url, timeout=60) as client:
        pick = random.Random(1)
        for body in malformed_bodies(1000):
            kind = pick.choices(["application/json", "application/x-ndjson", "application/vnd.apache.arrow.stream"],
                                [85, 10, 5])[0]
            r = client.post("/predict", content=body, headers={"content-type": kind})
            assert 400 <= r.status_code < 500, (r.status_code, body[:200], r.text[:300])
            assert isinstance(r.json()["error"], str) and "Traceback" not in r.text
            seen[r.status_code] = seen.get(r.status_code, 0) + 1
    assert set(seen) >= {400, 413, 422}
    metrics = httpx.get(server.url + "/metrics").text
    assert 'ctrkit_requests_total{path="/predict",status="500"}' not in metrics


@pytest.mark.parametrize("body, status, message", [
    (b"not json", 400, "the body is not JSON"),
    (b'{"rows": [{"age": "old"}]}', 422, "rows[0].age: Input should be a valid number"),
    (b'{"rows": [{"workclass": ["a"]}]}', 422, "rows[0].workclass"),
    (b'{"rows": [{"agee": 3}]}', 422, "rows[0].agee: Extra inputs are not permitted"),
    (b'{"rows": [{"age": NaN}]}', 400, "NaN is not a JSON number"),
    (b'{"rows": [{"age": 1e999}]}', 422, "rows[0].age: Input should be a finite number"),
    (b'[1, 2]', 422, 'expected a JSON object {"rows": [...]}, got list'),
    (b'{"rows": []}', 422, "'rows' is empty"),
    (b'{"rows": [{}], "explain": true}', 422, "explain: model 'deepfm' has no field-pair weights"),
])
def test_each_kind_of_mistake_is_named(server, body, status, message):
    r = httpx.post(server.url + "/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status and message in r.json()["error"], r.text


def test_limits_are_413(server):
    r = httpx.post(server.url + "/predict", json={"rows": [{}] * 2001})
    assert r.status_code == 413 and "at most 2,000 (--max-rows)" in r.json()["error"]
    r = httpx.post(server.url + "/predict", content=b" " * 2_000_001, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "--max-body-bytes" in r.json()["error"]


def test_32_concurrent_clients_get_their_own_scores(server, runs):
    rows = adult_rows(runs / "deepfm")[:32 * 5]
    expected = httpx.post(server.url + "/predict", json={"rows": rows}).json()["probabilities"]

    def client(k):
        mine = rows[5 * k:5 * k + 5]
        with httpx.Client(base_url=server.url, timeout=60) as c:
            return [c.post("/predict", json={"rows": [row]}).json()["probabilities"][0] for row in mine]

    before = batch_count(httpx.get(server.url + "/metrics").text)
    with ThreadPoolExecutor(32) as pool:
        got = [p for scores in pool.map(client, range(32)) for p in scores]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    metrics = httpx.get(server.url + "/metrics").text
    assert "ctrkit_rows_scored_total" in metrics
    batches = batch_count(metrics) - before
    assert batches < 32 * 5, f"{batches} batches for {32 * 5} concurrent single-row requests: none were gathered"


def batch_count(metrics: str) -> float:
    return float(next(line.split()[1] for line in metrics.splitlines() if line.startswith("ctrkit_batch_rows_count")))


def test_a_lone_request_does_not_wait_for_the_batch_window_and_arriving_ones_are_gathered():
    batches = []
    batcher = MicroBatcher(lambda rows: np.arange(len(rows), dtype=float), max_wait_s=5.0, observe=batches.append)

    async def lone():
        start = time.perf_counter()
        with batcher.arriving():
            p = await batcher([1])
        return p, time.perf_counter() - start

    async def late(delay, rows):
        with batcher.arriving():
            await asyncio.sleep(delay)      # its body still being read
            return await batcher(rows)

    async def scenario():
        p, seconds = await lone()
        gathered = await asyncio.gather(late(0, [1, 2]), late(0.2, [3]), late(0.4, [4, 5, 6]))
        await batcher.close()
        return p, seconds, gathered

    p, seconds, gathered = asyncio.run(scenario())
    assert list(p) == [0.0] and seconds < 2.5                  # not the 5 s window
    assert batches == [1, 6]                                   # the three arriving requests: one batch
    assert [list(x) for x in gathered] == [[0.0, 1.0], [2.0], [3.0, 4.0, 5.0]]


def test_metadata_health_and_openapi(server):
    meta = httpx.get(server.url + "/metadata").json()
    assert meta["model"] == "deepfm" and {"name": "age", "type": "numeric"} in meta["fields"]
    assert meta["metrics"]["valid"]["auc"] > 0.8 and meta["engine"] in ("torch", "onnx")
    assert httpx.get(server.url + "/health").json() == {"status": "ok"}
    schema = httpx.get(server.url + "/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "rows" in body["properties"]


def test_explain_gives_each_rows_top_field_pairs(runs):
    server = Server(runs / "afm")
    try:
        rows = adult_rows(runs / "afm")[:3]
        r = httpx.post(server.url + "/predict", json={"rows": rows, "explain": True})
        assert r.status_code == 200, r.text
        explained = r.json()["explain"]
        assert len(explained) == 3 and len(explained[0]) == 3
        assert all(len(p["fields"]) == 2 and p["weight"] >= 0 for p in explained[0])
    finally:
        server.stop()


def test_reload_swaps_runs_without_failing_requests_and_keeps_serving_on_a_bad_run(runs):
    server = Server(runs / "deepfm", "--admin-token", "s3cret")
    try:
        rows = adult_rows(runs / "deepfm")[:20]
        before = httpx.get(server.url + "/ready").json()["version"]
        auth = {"authorization": "Bearer s3cret"}
        assert httpx.post(server.url + "/admin/reload", json={"run": str(runs / "afm")}).status_code == 401
        statuses, stop = [], threading.Event()

        def hammer():
            with httpx.Client(base_url=server.url, timeout=60) as c:
                while not stop.is_set():
                    statuses.append(c.post("/predict", json={"rows": rows}).status_code)

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        r = httpx.post(server.url + "/admin/reload", json={"run": str(runs / "afm")}, headers=auth, timeout=60)
        assert r.status_code == 200 and r.json()["previous"] == before
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        assert statuses and set(statuses) == {200}
        assert httpx.get(server.url + "/metadata").json()["model"] == "afm"
        bad = httpx.post(server.url + "/admin/reload", json={"run": str(runs / "nope")}, headers=auth, timeout=60)
        assert bad.status_code == 422 and "reload failed, still serving 'afm'" in bad.json()["error"]
        assert httpx.post(server.url + "/predict", json={"rows": rows}).status_code == 200
    finally:
        server.stop()


def test_sigterm_lets_requests_in_flight_finish(runs):
    server = Server(runs / "deepfm")
    rows = adult_rows(runs / "deepfm")[:2000]
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(httpx.post, server.url + "/predict", json={"rows": rows}, timeout=60)
                   for _ in range(4)]
        time.sleep(0.3)
        server.proc.send_signal(signal.SIGTERM)
        results = [f.result() for f in futures]
    assert all(r.status_code == 200 and len(r.json()["probabilities"]) == 2000 for r in results)
    assert server.proc.wait(30) in (0, -signal.SIGTERM)   # uvicorn ends by re-raising the signal it handled


def test_sighup_reloads_the_run_folder(runs, tmp_path):
    """New weights written into the served folder take over on SIGHUP."""
    import shutil

    folder = tmp_path / "served"
    shutil.copytree(runs / "deepfm", folder)
    server = Server(folder)
    try:
        before = httpx.get(server.url + "/ready").json()["version"]
        shutil.rmtree(folder)
        shutil.copytree(runs / "afm", folder)
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 30
        while httpx.get(server.url + "/metadata").json()["model"] != "afm" and time.time() < deadline:
            time.sleep(0.2)
        meta = httpx.get(server.url + "/metadata").json()
        assert meta["model"] == "afm" and meta["version"] != before
    finally:
        server.stop()
