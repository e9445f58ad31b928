"""``ctrkit serve``: an HTTP scoring service from a run folder (FastAPI on uvicorn, pydantic,
prometheus-client; ``pip install 'ctrkit[serve]'``)."""
from __future__ import annotations

import json
import os
from typing import Any

from .app import create_app

ENV = "CTRKIT_SERVE_OPTIONS"


def app_from_env() -> Any:
    """The app a uvicorn worker builds (``--workers N``): options from ``CTRKIT_SERVE_OPTIONS``."""
    return create_app(**json.loads(os.environ[ENV]))


def serve(run_folder: str, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, **options: Any) -> None:
    """Serve the run until SIGTERM or SIGINT (requests in flight finish first)."""
    import uvicorn

    if workers > 1:
        os.environ[ENV] = json.dumps({"run_folder": run_folder, **options})
        uvicorn.run("ctrkit.serve:app_from_env", factory=True, host=host, port=port, workers=workers,
                    log_level="warning")
    else:
        uvicorn.run(create_app(run_folder, **options), host=host, port=port, log_level="warning")


__all__ = ["app_from_env", "create_app", "serve"]
