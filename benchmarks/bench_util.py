"""Helpers shared by the comparison runners (imported by ctrkit's and the peers' interpreters alike,
so nothing here imports ctrkit)."""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from contextlib import contextmanager
from typing import Dict, Iterator

import numpy as np

# The same hyperparameters on every side.
EMBED_DIM = 16
LR = 1e-3
MLP = (400, 400, 400)
AUTOINT = {"layers": 3, "heads": 2, "dim": 32}          # Song et al. 2019; dim is per head
AFM_ATTENTION = 16
NUMERIC = [f"I{i}" for i in range(1, 14)]
CATEGORICAL = [f"C{i}" for i in range(1, 27)]


class Timer:
    def __init__(self) -> None:
        self.seconds: Dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def warm_up_torch() -> None:
    """One tiny Adam step, so that the lazy imports of torch's first optimizer step (about 1.5 s
    here) are not counted as training time on either side."""
    import torch
    p = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.Adam([p])
    p.sum().backward()
    optimizer.step()


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss, not inherited across fork)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scores(y: np.ndarray, p: np.ndarray) -> Dict[str, float]:
    from sklearn.metrics import log_loss, roc_auc_score
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return {"auc": float(roc_auc_score(y, p)), "logloss": float(log_loss(y, p))}


def runner_args(*flags: str) -> argparse.Namespace:
    """The arguments every runner takes, plus boolean ``flags`` (e.g. '--sparse')."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--valid", required=True)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=1)
    for flag in flags:
        parser.add_argument(flag, action="store_true")
    return parser.parse_args()


def report(result: Dict) -> None:
    """The runner's single line of output: a JSON object the orchestrator parses."""
    result["peak_rss_mb"] = peak_rss_mb()
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
