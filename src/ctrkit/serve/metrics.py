"""The service's Prometheus metrics, in a registry of its own (one per app)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)


class ServiceMetrics:
    """Requests by path and status, rows scored, request latency and scored batch sizes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("ctrkit_requests", "HTTP requests by path and status", ["path", "status"],
                                registry=self.registry)
        self.rows = Counter("ctrkit_rows_scored", "rows scored", registry=self.registry)
        self.latency = Histogram("ctrkit_request_seconds", "request latency by path", ["path"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batches = Histogram("ctrkit_batch_rows", "rows per scored batch (after micro-batching)",
                                 buckets=BATCH_BUCKETS, registry=self.registry)

    def text(self) -> bytes:
        return generate_latest(self.registry)
