"""Training options and the monitored score: plain Python, so configs load without torch."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

HIGHER_IS_BETTER = ("auc", "gauc", "accuracy", "precision", "recall", "f1")
DISTRIBUTED_DEFAULTS: Dict[str, Any] = {
    "backend": "auto",                 # auto (nccl on CUDA, gloo on the CPU) | gloo | nccl
    "timeout_s": 1800,                 # seconds a rank waits for the others at a collective
    "find_unused_parameters": False,   # DDP option for models whose forward leaves parameters unused
}
BACKENDS = ("auto", "gloo", "nccl")


@dataclass
class TrainConfig:
    """Training options (every one reachable from YAML configs and ``--set train.KEY=VALUE``)."""

    epochs: int = 50                        # at most: early stopping (patience) ends training before
    batch_size: int = 1024
    eval_batch_size: int = 16384            # on CPU at most cpu_inference_rows(model)
    lr: float = 1e-3
    optimizer: str = "adam"                 # adam | adamw | adagrad | sgd
    embedding_optimizer: str = "sparse_adam"  # for sparse tables (model option sparse: true): sparse_adam | adagrad | sgd
    embedding_lr: float = 0.0               # 0: same as lr
    weight_decay: float = 0.0
    clip_norm: float = 0.0                  # 0: no gradient clipping
    monitor: str = "auto"                   # auto (auc; mse for regression) | logloss | a sum such as auc-logloss
    patience: int = 2                       # evaluations without improvement before stopping
    min_delta: float = 0.0
    lr_factor: float = 1.0                  # multiply the learning rate by this on a plateau (1: never)
    lr_patience: int = 1
    eval_every_steps: int = 0               # 0: evaluate at each epoch end only
    checkpoint_every_steps: int = 0         # 0: checkpoint at each epoch end only
    shuffle: str = "rows"                   # rows | blocks | none
    seed: int = 0
    threads: int = 0                        # 0: the cores other processes leave free (checked every 5 s)
    progress: bool = True                   # a progress bar per epoch (on a terminal)
    tensorboard: bool = False
    group_field: str = ""                   # a categorical field (e.g. user): adds grouped AUC ('gauc')
    bf16: Optional[bool] = None             # bfloat16 autocast for the dense layers (training and prediction);
                                            # None (auto): where the device computes bf16 natively and the model gains
    device: str = "model"                   # model (where its parameters are: the CPU unless moved) | auto | cpu | cuda[:N]
    distributed: Dict[str, Any] = field(default_factory=lambda: dict(DISTRIBUTED_DEFAULTS))  # under torchrun

    def check(self) -> None:
        """Raise ValueError naming every option out of its bounds (``BOUNDS``)."""
        problems = option_problems(vars(self))
        if problems:
            raise ValueError("; ".join(problems))

    def __post_init__(self) -> None:
        self.check()


# the bounds each numeric option must keep: (lowest, whether the lowest itself is allowed)
BOUNDS = {"epochs": (1, True), "batch_size": (1, True), "eval_batch_size": (1, True), "lr": (0, False),
          "embedding_lr": (0, True), "weight_decay": (0, True), "clip_norm": (0, True), "patience": (0, True),
          "min_delta": (0, True), "lr_factor": (0, False), "lr_patience": (1, True), "eval_every_steps": (0, True),
          "checkpoint_every_steps": (0, True), "threads": (0, True)}


def option_problems(values: Dict[str, object], section: str = "train") -> List[str]:
    """What is wrong with training options' values (empty when nothing): counts below 1, negative
    or zero rates, and so on, each naming the key, what it must be and what it is."""
    problems = []
    dist = values.get("distributed") or {}
    if isinstance(dist, dict):
        problems += [f"{section}.distributed: unknown key {k!r}; valid keys: {', '.join(DISTRIBUTED_DEFAULTS)}"
                     for k in dist if k not in DISTRIBUTED_DEFAULTS]
        if dist.get("backend", "auto") not in BACKENDS:
            problems.append(f"{section}.distributed.backend: expected one of {', '.join(BACKENDS)}, "
                            f"got {dist['backend']!r}")
        timeout = dist.get("timeout_s", 1)
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
            problems.append(f"{section}.distributed.timeout_s: expected a number of seconds above 0, got {timeout!r}")
    if not (values.get("bf16") is None or isinstance(values.get("bf16"), bool)):
        problems.append(f"{section}.bf16: expected true, false or null (auto), got {values['bf16']!r}")
    for key, (low, inclusive) in BOUNDS.items():
        value = values.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and (value < low or (value == low and not inclusive)):
            need = f"at least {low}" if inclusive else f"more than {low}"
            problems.append(f"{section}.{key}: expected {need}, got {value!r}")
    return problems


def monitor_value(metrics: Dict[str, float], monitor: str) -> float:
    """The monitored score, larger is better: one metric ('auc'; 'logloss' is negated because lower
    is better) or a weighted sum taken as written, e.g. 'auc-logloss' or 'auc-0.5*logloss'."""
    text = monitor.replace(" ", "")
    terms = re.findall(r"([+-]?)(?:(\d+(?:\.\d*)?)\*)?([a-z_]+)", text)
    if not terms or "".join(f"{s}{c + '*' if c else ''}{n}" for s, c, n in terms) != text:
        raise ValueError(f"monitor {monitor!r}: expected a metric name or a weighted sum such as auc-0.5*logloss")
    for _, _, name in terms:
        if name not in metrics:
            raise ValueError(f"monitor {monitor!r}: unknown metric {name!r}; metrics: {', '.join(metrics)}")
    if len(terms) == 1 and not terms[0][1]:
        sign, _, name = terms[0]
        value = metrics[name] if name in HIGHER_IS_BETTER else -metrics[name]
        return -value if sign == "-" else value
    return sum((-1.0 if sign == "-" else 1.0) * float(coef or 1.0) * metrics[name] for sign, coef, name in terms)


