"""The scoring service: a FastAPI app over a run folder (``ctrkit serve``).

``POST /predict`` takes raw rows (JSON ``{"rows": [...]}``, one JSON object per line with
``Content-Type: application/x-ndjson``, or an Arrow IPC stream with
``application/vnd.apache.arrow.stream``) and returns their click probabilities, scored by the same
processor and prediction engine as ``ctrkit predict``. Every malformed request gets a 4xx with a
JSON body naming the problem. ``/health``, ``/ready``, ``/metadata`` and ``/metrics`` (Prometheus)
describe the service; ``POST /admin/reload`` (with ``admin_token``) swaps in another run, and SIGHUP reloads the
same folder, while requests in flight finish on the old one.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Dict, List, Optional

import numpy as np
import pyarrow as pa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from ..errors import CTRKitError
from ..inference.explain import row_top_pairs
from ..io.store import EncodedArrays
from ..runs import Run, load_run
from .batcher import MicroBatcher
from .metrics import ServiceMetrics
from .rows import RequestError, RowChecker

NDJSON = "application/x-ndjson"
ARROW = "application/vnd.apache.arrow.stream"
ROW_PATH_ROWS = 512   # requests up to this many rows are encoded row by row


@dataclass
class Served:
    """A loaded run with what serving it needs: the row checker, the weights' hash and a batcher
    that gathers requests for ``max_wait_s`` and tells ``observe`` each scored batch's rows."""

    run: Run
    checker: RowChecker
    version: str
    max_wait_s: float = 0.0
    observe: Optional[Callable[[int], None]] = None
    batcher: MicroBatcher = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.batcher = MicroBatcher(self.score, self.max_wait_s, observe=self.observe)

    @property
    def name(self) -> str:
        return os.path.basename(os.path.normpath(self.run.folder))

    def encode(self, rows: List[Dict[str, Any]]) -> EncodedArrays:
        """Checked rows encoded: row by row for a few (``Processor.transform_rows``, 0.08 ms a row),
        by column for many."""
        if len(rows) <= ROW_PATH_ROWS:
            return self.run.processor.transform_rows(rows)
        return self.run.processor.transform(self.checker.table(rows), require_label=False)

    def score_table(self, table: pa.Table) -> np.ndarray:
        """Probabilities of a checked Arrow table (blocking: called in a worker thread)."""
        return self.run.predict(self.run.processor.transform(table, require_label=False))

    def score(self, rows: List[Dict[str, Any]]) -> np.ndarray:
        """Probabilities of checked rows (blocking: called in a worker thread)."""
        return self.run.predict(self.encode(rows))

    def explain(self, rows: List[Dict[str, Any]], k: int = 3) -> Optional[List[List[dict]]]:
        """The ``k`` field pairs each row's model attends to most (None: it attends to nothing)."""
        return row_top_pairs(self.run.model, self.encode(rows), k)


def weights_version(folder: str) -> str:
    """The first 16 hex digits of the SHA-256 of the run's weights."""
    digest = hashlib.sha256()
    with open(os.path.join(folder, "model.safetensors"), "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def load_served(folder: str, engine: str, ignore_unknown: bool, max_wait_s: float,
                observe: Optional[Callable[[int], None]] = None) -> Served:
    """The run in ``folder`` ready to serve; ``observe`` is told the rows of each scored batch."""
    run = load_run(folder, engine)
    return Served(run, RowChecker(run.processor.schema, ignore_unknown), weights_version(folder), max_wait_s, observe)


def create_app(run_folder: str, engine: str = "auto", max_rows: int = 10_000, max_body_bytes: int = 16 << 20,
               max_batch_wait_ms: float = 2.0, ignore_unknown_fields: bool = False,
               admin_token: Optional[str] = None) -> FastAPI:
    """The service for the run in ``run_folder`` (loaded now: a run that cannot load is an error
    before the server starts).

    Args:
        run_folder: a finished run (``ctrkit train``, ``CTRClassifier.save``).
        engine: the prediction engine (``auto``, ``torch``, ``onnx``, ``onnx-int8``).
        max_rows: more rows in one request are refused (413).
        max_body_bytes: a larger body is refused (413).
        max_batch_wait_ms: how long concurrent requests are gathered into one batch (0: never).
        ignore_unknown_fields: accept fields the run does not know (default: 422).
        admin_token: enables ``POST /admin/reload``, which then needs ``Authorization: Bearer TOKEN``.
    """
    metrics = ServiceMetrics()
    options = dict(engine=engine, ignore_unknown=ignore_unknown_fields, max_wait_s=max_batch_wait_ms / 1000,
                   observe=metrics.batches.observe)
    state: Dict[str, Any] = {"served": load_served(run_folder, **options)}
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """SIGHUP reloads the run folder (new weights written there take over without downtime)."""
        loop = asyncio.get_running_loop()

        def hangup() -> None:
            async def again() -> None:
                try:
                    done = await swap(state["served"].run.folder)
                    print(f"SIGHUP: serving {done['run']} version {done['version']}", file=sys.stderr, flush=True)
                except RequestError as exc:
                    print(f"SIGHUP: {exc.body['error']}", file=sys.stderr, flush=True)
            asyncio.ensure_future(again())

        try:
            loop.add_signal_handler(signal.SIGHUP, hangup)
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):   # no SIGHUP, or not the main thread
            pass
        yield

    app = FastAPI(title="ctrkit scoring service", version=state["served"].version, lifespan=lifespan,
                  description=f"Click probabilities from the run {state['served'].name!r}.")
    reload_lock = asyncio.Lock()

    app.add_middleware(Counted, metrics=metrics)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:   # never a traceback to the client
        return JSONResponse({"error": "internal error"}, status_code=500)

    @app.exception_handler(RequestError)
    async def refused(request: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.get("/health")
    async def health() -> Dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> Dict[str, Any]:
        """Readiness: a model is loaded."""
        served = state["served"]
        return {"ready": True, "run": served.name, "version": served.version}

    @app.get("/metadata")
    async def metadata() -> Dict[str, Any]:
        """The model, its fields and types, its metrics.json, the engine and the weights' version."""
        served = state["served"]
        schema = served.run.processor.schema
        path = os.path.join(served.run.folder, "metrics.json")
        run_metrics = {}
        if os.path.exists(path):
            with open(path) as fh:
                run_metrics = json.load(fh)
        return {"model": served.run.config["model"]["name"], "run": served.name, "version": served.version,
                "engine": served.run.predictor.engine,
                "fields": [{"name": f.column, "type": f.type} for f in schema.fields],
                "metrics": run_metrics, "max_rows": max_rows}

    @app.get("/metrics")
    async def prometheus() -> Response:
        """Prometheus metrics: requests by path and status, rows scored, latency, batch sizes."""
        return Response(metrics.text(), media_type="text/plain; version=0.0.4")

    async def scored(served: Served, rows: Any, explain: bool) -> Dict[str, Any]:
        checked = served.checker.rows(rows)
        if not checked:
            raise RequestError(422, "'rows' is empty: send at least one row")
        try:
            p = await served.batcher(checked)
        except CTRKitError as exc:
            raise RequestError(422, str(exc)) from None
        out = answer(served, p)
        if explain:
            out["explain"] = await asyncio.to_thread(served.explain, checked)
            if out["explain"] is None:
                raise RequestError(422, f"explain: model {out['model']!r} has no field-pair weights (AFM, "
                                        "AutoInt(+), FiGNN and full- or low-rank DCN-V2 have)")
        return out

    def answer(served: Served, p: np.ndarray) -> Dict[str, Any]:
        """The response to a scored request (its rows counted in the metrics)."""
        metrics.rows.inc(len(p))
        return {"probabilities": [float(x) for x in p], "model": served.run.config["model"]["name"],
                "run": served.name, "version": served.version}

    async def scored_arrow(served: Served, body: bytes) -> Dict[str, Any]:
        try:
            table = pa.ipc.open_stream(body).read_all()
        except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
            raise RequestError(400, f"the body is not an Arrow IPC stream: {exc}") from None
        if table.num_rows == 0:
            raise RequestError(422, "the table is empty: send at least one row")
        if table.num_rows > max_rows:
            raise RequestError(413, f"{table.num_rows:,} rows in one request; at most {max_rows:,} (--max-rows)")
        checked = served.checker.arrow(table)
        try:
            p = await asyncio.to_thread(served.score_table, checked)
        except CTRKitError as exc:
            raise RequestError(422, str(exc)) from None
        metrics.batches.observe(table.num_rows)
        return answer(served, p)

    @app.post("/predict", openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": state["served"].checker.request.model_json_schema()},
        NDJSON: {"schema": {"type": "string", "description": "one JSON row object per line"}},
        ARROW: {"schema": {"type": "string", "format": "binary",
                           "description": "an Arrow IPC stream with a column per field (bulk rows)"}}}}})
    async def predict(request: Request) -> Dict[str, Any]:
        """Click probabilities of raw rows: field names as in the run's schema, absent or null =
        missing, an unseen value = out of vocabulary."""
        served = state["served"]          # requests in flight keep the run they started with
        with served.batcher.arriving():
            return await predicted(served, request)

    async def predicted(served: Served, request: Request) -> Dict[str, Any]:
        body = await _body(request, max_body_bytes)
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if kind == ARROW:
            return await scored_arrow(served, body)
        if kind == NDJSON:
            rows, explain = _ndjson(body), False
        else:
            payload = _json(body)
            if not isinstance(payload, dict) or "rows" not in payload:
                raise RequestError(422, "expected a JSON object {\"rows\": [...]}, got "
                                        f"{type(payload).__name__}" + ("" if not isinstance(payload, dict)
                                                                      else " without 'rows'"))
            unknown = sorted(set(payload) - {"rows", "explain"})
            if unknown:
                raise RequestError(422, f"unknown key(s) {unknown}; a request has 'rows' and optionally 'explain'")
            rows, explain = payload["rows"], payload.get("explain", False)
            if not isinstance(explain, bool):
                raise RequestError(422, f"'explain' must be true or false, got {explain!r}")
        if isinstance(rows, list) and len(rows) > max_rows:
            raise RequestError(413, f"{len(rows):,} rows in one request; at most {max_rows:,} (--max-rows)")
        return await scored(served, rows, explain)

    if admin_token:
        @app.post("/admin/reload")
        async def reload(request: Request) -> Dict[str, Any]:
            """Swap to another run folder (body ``{"run": PATH}``; without it the same folder again).
            Requests in flight finish on the old run; a run that fails to load leaves it serving."""
            if request.headers.get("authorization") != f"Bearer {admin_token}":
                raise RequestError(401, "admin endpoints need 'Authorization: Bearer TOKEN' (--admin-token)")
            body = await _body(request, 1 << 16)
            payload = _json(body) if body.strip() else {}
            folder = payload.get("run", state["served"].run.folder) if isinstance(payload, dict) else None
            if not isinstance(folder, str):
                raise RequestError(422, "expected {\"run\": \"PATH\"}")
            return await swap(folder)

    async def swap(folder: str) -> Dict[str, Any]:
        """Load ``folder`` and serve it; requests in flight finish on the old run, and a run that
        fails to load leaves the old one serving (a 422 that says why)."""
        async with reload_lock:
            try:
                new = await asyncio.to_thread(load_served, folder, **options)
            except (CTRKitError, OSError, ValueError) as exc:
                raise RequestError(422, f"reload failed, still serving {state['served'].name!r} "
                                        f"({state['served'].version}): {exc}") from None
            old, state["served"] = state["served"], new
        await old.batcher.close()
        return {"run": new.name, "version": new.version, "previous": old.version}

    app.state.served = state
    return app


KNOWN_PATHS = ("/predict", "/health", "/ready", "/metadata", "/metrics", "/admin/reload", "/docs", "/openapi.json")


class Counted:
    """ASGI middleware that counts HTTP requests by path and status and times them (a plain ASGI
    class: Starlette's ``BaseHTTPMiddleware`` adds a task and a body stream to every request)."""

    def __init__(self, app: Any, metrics: ServiceMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def sending(message: Dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
            self.metrics.requests.labels(path, str(status)).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - start)


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) past ``limit`` bytes without reading further."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the body has {int(declared):,} bytes; at most {limit:,} (--max-body-bytes)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the body is over {limit:,} bytes (--max-body-bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise RequestError(400, "the body is not JSON a service accepts: nested too deeply") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _ndjson(body: bytes) -> List[Any]:
    rows = []
    for number, line in enumerate(body.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line, parse_constant=_no_constant))
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                raise RequestError(400, f"line {number} of the body is not JSON: {exc}") from None
    return rows
