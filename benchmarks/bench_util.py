"""Helpers shared by the comparison runners (imported by ctrkit's and the peers' interpreters alike,
so nothing here imports ctrkit)."""
from __future__ import annotations

import argparse
import copy
import json
import resource
import sys
import time
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

# The same hyperparameters on every side.
EMBED_DIM = 16
LR = 1e-3
MLP = (400, 400, 400)
AUTOINT = {"layers": 3, "heads": 2, "dim": 32}          # the peers' AutoInt: Song et al. 2019; dim is per head
AFM_ATTENTION = 16
CROSS_LAYERS = 3                                        # DCN and DCN-V2 (DeepCTR-Torch's DCN / DCNMix)
DCN_MIX = {"low_rank": 32, "experts": 4}                # DeepCTR-Torch's DCNMix defaults
CIN = (128, 128)                                        # xDeepFM's CIN, split in half, no activation
BINS = 32                                               # quantile bins of the synthetic numeric fields
DIN = {"attention": (64, 16), "history": 20}            # DIN's activation unit (Dice) and history length
# Columns of each benchmark dataset's CSVs (label column: 'label', 0/1), and how it is trained:
# the synthetic data for one epoch at batch 4096; Adult with early stopping on valid AUC at batch 1024;
# MovieLens-1M with histories (``sequence``: each '|'-separated field and the field whose table it
# shares, if any) up to 5 epochs at batch 4096, for the models that need a behaviour sequence.
DATASETS = {
    "synthetic": {"numeric": [f"I{i}" for i in range(1, 14)], "categorical": [f"C{i}" for i in range(1, 27)],
                  "batch_size": 4096, "epochs": 1, "patience": 0},
    "adult": {"numeric": ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"],
              "categorical": ["workclass", "education", "marital_status", "occupation", "relationship", "race",
                              "sex", "native_country"],
              "batch_size": 1024, "epochs": 20, "patience": 2},
    "movielens-history": {"numeric": [], "categorical": ["user_id", "item_id", "gender", "age", "occupation",
                                                         "zip_prefix"],
                          "sequence": {"genres": None, "history": "item_id"}, "models": ["din"],
                          "batch_size": 4096, "epochs": 5, "patience": 1},
}


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


# Prediction is timed as the median of repeated calls on the valid split, calls repeating until this
# many seconds have passed (at least one call): one call on Adult's 6,512 rows takes 0.14-360 ms, and a
# single such timing varied by ±25% from run to run on this machine.
PREDICT_BUDGET_S = 2.0


def timed_predictions(predict: Callable[[], np.ndarray], budget_s: float = PREDICT_BUDGET_S,
                      max_calls: int = 200) -> Tuple[np.ndarray, float, int]:
    """``predict()``'s first result, the median seconds of its calls, and the number of calls."""
    seconds: List[float] = []
    first, start = None, time.perf_counter()
    while not seconds or (time.perf_counter() - start < budget_s and len(seconds) < max_calls):
        t = time.perf_counter()
        out = predict()
        seconds.append(time.perf_counter() - t)
        first = out if first is None else first
    return first, float(np.median(seconds)), len(seconds)


def matmul_gflops(dtype: str = "float32", repeats: int = 5, device: str = "cpu") -> float:
    """The matmul rate of ``device`` now: the best of ``repeats`` 4096² ``torch.mm``s, in GFLOP/s."""
    import torch
    a, b = (torch.randn(4096, 4096, dtype=getattr(torch, dtype), device=device) for _ in range(2))
    wait = torch.cuda.synchronize if a.is_cuda else (lambda: None)
    torch.mm(a, b)
    wait()
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        wait()
        best = max(best, 2 * 4096 ** 3 / (time.perf_counter() - start))
    return best / 1e9


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


def runner_args(*flags: str, options: Optional[Tuple[str, str]] = None) -> argparse.Namespace:
    """The arguments every runner takes, plus boolean ``flags`` (e.g. '--sparse') and an ``options``
    (flag, help) string argument; adds the dataset's ``numeric`` and ``categorical`` column lists and
    ``sequence`` fields, and fills its training defaults."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="synthetic")
    parser.add_argument("--train", required=True)
    parser.add_argument("--valid", required=True)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--patience", type=int, help="epochs without valid AUC gain before stopping (0: none)")
    parser.add_argument("--device", default="cpu", help="where ctrkit trains and predicts (the peers run on the CPU)")
    for flag in flags:
        parser.add_argument(flag, action="store_true")
    if options:
        parser.add_argument(options[0], help=options[1])
    args = parser.parse_args()
    spec = DATASETS[args.dataset]
    for key in ("batch_size", "epochs", "patience"):
        if getattr(args, key) is None:
            setattr(args, key, spec[key])
    args.numeric, args.categorical, args.sequence = spec["numeric"], spec["categorical"], spec.get("sequence", {})
    return args


def fit_peer(model, train_epoch: Callable[[], None], valid_auc: Callable[[], float], args: argparse.Namespace,
             timer: Timer) -> List[float]:
    """The peers' training loop: ``train_epoch`` timed as 'train'; with ``args.patience``, valid
    AUC after each epoch (untimed), stop after that many epochs without gain and restore the best
    weights, as ctrkit's trainer does. Returns the valid AUCs (empty without patience)."""
    aucs: List[float] = []
    best_state, waited = None, 0
    for _ in range(args.epochs):
        with timer("train"):
            train_epoch()
        if not args.patience:
            continue
        aucs.append(valid_auc())
        if len(aucs) == 1 or aucs[-1] > max(aucs[:-1]):
            best_state, waited = copy.deepcopy(model.state_dict()), 0
        else:
            waited += 1
            if waited >= args.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return aucs


def report(result: Dict) -> None:
    """The runner's single line of output: a JSON object the orchestrator parses."""
    result.setdefault("peak_rss_mb", peak_rss_mb())   # a runner that starts the work in a child gives the child's
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
