"""Training on many processes: real ``torchrun`` process groups (gloo, 1 thread each) against one
process. A config means the same thing at any scale: 2 processes × global batch B end with the
weights and metrics of 1 process × batch B; a killed rank restarts the group, which resumes from
the last checkpoint; two torchrun invocations joined by a rendezvous act as two machines."""
from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from ctrkit.train import distributed

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
# float32 throughout: where the CPU has native bfloat16, train.bf16's auto setting turns on autocast, and
# bfloat16 rounds a batch of 200 and two halves of 100 differently (far more than float32 does)
COMMON = ["--epochs", "2", "--batch-size", "200", "--set", "train.threads=1", "--set", "train.progress=false",
          "--set", "train.bf16=false"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist") / "prep"
    run([sys.executable, "-m", "ctrkit", "prepare", "--dataset", "synthetic", "--rows", "5000", "--out", str(out)])
    return out


def run(command, timeout=300):
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def train(prepared: Path, out: Path, model: str, *extra: str, launcher=()):
    return run([*launcher, *([] if launcher else [sys.executable]), "-m", "ctrkit", "train", "--data", str(prepared),
                "--model", model, "--out", str(out), *COMMON, *extra])


@pytest.fixture(scope="module")
def one_process(prepared, tmp_path_factory):
    """The one-process run of (model, *extra), trained once for the tests that compare with it."""
    runs = {}

    def get(model: str, *extra: str) -> Path:
        key = (model, *extra)
        if key not in runs:
            runs[key] = tmp_path_factory.mktemp("one") / "run"
            train(prepared, runs[key], model, *extra)
        return runs[key]
    return get


def weights(run_dir: Path):
    return load_file(str(run_dir / "model.safetensors"))


def assert_same_run(one: Path, many: Path, atol: float = 2e-5):
    """Same weights: every element within ``atol``, except that Adam, which divides a gradient by
    its own running size, turns rounding differences on near-zero gradients (an embedding row
    seen once) into steps of up to lr: of those, at most 1 element in 10,000, within 1e-3."""
    a, b = weights(one), weights(many)
    assert a.keys() == b.keys()
    for key in a:
        off = (b[key] - a[key]).abs()
        assert off.max() < 1e-3, f"{key}: {off.max():.2e} apart"
        assert (off > atol + 1e-4 * a[key].abs()).float().mean() <= 1e-4, f"{key}: {int((off > atol).sum())} apart"
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (one, many))
    for split in ("valid", "test"):
        assert mb[split]["auc"] == pytest.approx(ma[split]["auc"], abs=1e-5)
        assert mb[split]["logloss"] == pytest.approx(ma[split]["logloss"], abs=1e-5)
    assert (mb["train"]["steps"], mb["train"]["epochs"]) == (ma["train"]["steps"], ma["train"]["epochs"])
    assert sorted(p.name for p in many.iterdir()) == sorted(p.name for p in one.iterdir())   # same layout
    ha, hb = (list(csv.DictReader((d / "history.csv").open())) for d in (one, many))
    assert len(ha) == len(hb) and ha[0].keys() == hb[0].keys()
    for ra, rb in zip(ha, hb):   # every column but the clock's
        for key in ra.keys() - {"seconds", "samples_per_second"}:
            assert float(rb[key]) == pytest.approx(float(ra[key]), abs=1e-5), key


@pytest.mark.parametrize("model, extra, launch", [
    ("lr", ["--lr", "0.01"], "torchrun"),
    ("deepfm", ["--set", "model.dnn_units=[32,16]"], "torchrun"),
    ("autoint+", ["--set", "model.dnn_units=[32,16]", "--set", "model.attention_layers=2",
                  "--set", "model.attention_dim=32"], "nproc"),
    ("fnn", ["--set", "model.dnn_units=[32,16]", "--set", "pretrain.epochs=1"], "nproc"),
])
def test_two_processes_train_the_model_of_one(prepared, one_process, tmp_path, model, extra, launch):
    """2 processes with the global batch split between them give one process's weights (to float
    tolerance: the gradient sums are added in another order), metrics and run folder; FNN's FM
    pre-training stage runs distributed too. Launched by torchrun, or by ``--nproc 2``."""
    one = one_process(model, *extra)
    if launch == "torchrun":
        train(prepared, tmp_path / "two", model, *extra, launcher=[*TORCHRUN, "--standalone", "--nproc-per-node", "2"])
    else:
        done = train(prepared, tmp_path / "two", model, *extra, "--nproc", "2")
        assert "run: " in done.stdout and "(trained by 2 processes)" in done.stdout
        assert done.stdout.count("run: ") == 1   # only rank 0 prints
    assert_same_run(one, tmp_path / "two")
    if model == "fnn":
        assert (tmp_path / "two" / "pretrain" / "history.csv").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_machines_as_two_torchrun_invocations(prepared, one_process, tmp_path):
    """``--nnodes 2`` with a c10d rendezvous: two torchrun commands (two "machines" of one process
    each, here on one host) train together into one run folder on the shared file system."""
    port = free_port()
    node = [*TORCHRUN, "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
            "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "ctrkit-test", "-m", "ctrkit", "train", "--data",
            str(prepared), "--model", "lr", "--lr", "0.01", "--out", str(tmp_path / "two"), *COMMON]
    nodes = [subprocess.Popen(node, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in nodes]
    assert [p.returncode for p in nodes] == [0, 0], outputs
    assert sum("(trained by 2 processes)" in out for out, _ in outputs) == 1
    assert_same_run(one_process("lr", "--lr", "0.01"), tmp_path / "two")


def workers(parent: int):
    """The worker processes torchrun ``parent`` started: {rank: pid}."""
    found = {}
    for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
        try:
            env = dict(item.split("=", 1) for item in
                       Path(f"/proc/{child}/environ").read_bytes().decode(errors="replace").split("\0") if "=" in item)
        except OSError:
            continue
        if "RANK" in env:
            found[int(env["RANK"])] = int(child)
    return found


def test_a_killed_rank_restarts_the_group_which_resumes_exactly(prepared, tmp_path):
    """``torchrun --max-restarts 3``: rank 1 killed with SIGKILL after a checkpoint; the restarted
    group resumes from it (rank 0 says so) and ends with the weights, metrics and history of the
    same run never interrupted."""
    extra = ["--set", "model.dnn_units=[32,16]", "--set", "train.checkpoint_every_steps=5", "--batch-size", "50",
             "--epochs", "3"]
    launcher = [*TORCHRUN, "--standalone", "--nproc-per-node", "2"]
    train(prepared, tmp_path / "whole", "deepfm", *extra, launcher=launcher)
    command = [*TORCHRUN, "--standalone", "--nproc-per-node", "2", "--max-restarts", "3", "--monitor-interval", "0.1",
               "-m", "ctrkit", "train", "--data", str(prepared), "--model", "deepfm", "--out", str(tmp_path / "cut"),
               *COMMON, *extra]
    group = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoint = tmp_path / "cut" / "checkpoint" / "state.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and group.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    ranks = workers(group.pid)
    assert checkpoint.exists() and 1 in ranks, "the run ended or never checkpointed before the kill"
    os.kill(ranks[1], signal.SIGKILL)
    out, err = group.communicate(timeout=300)
    assert group.returncode == 0, err[-3000:]
    assert err.count("torchrun restarted the group: resuming from the last checkpoint") == 1   # rank 0 says it
    assert_same_run(tmp_path / "whole", tmp_path / "cut", atol=1e-6)


def test_every_model_trains_under_ddp(tmp_path):
    """Each registered model (categorical, numeric and sequence fields; DIN with its history) trains
    under DistributedDataParallel without unused-parameter errors, and the ranks end with the same
    weights and running statistics."""
    out = tmp_path / "every.json"
    script = Path(__file__).parent / "distributed" / "every_model.py"
    run([*TORCHRUN, "--standalone", "--nproc-per-node", "2", str(script), str(out)])
    failures = {k: v for k, v in json.loads(out.read_text()).items() if v is not None}
    assert not failures


def test_one_process_is_not_a_group():
    assert not distributed.launched() or os.environ.get("WORLD_SIZE") == "1"
    g = distributed.join()
    assert (g.rank, g.world_size, g.main, g.active) == (0, 1, True, False)
    assert distributed.broadcast(3) == 3 and distributed.gather("x") == ["x"]
    assert distributed.on_main(lambda: 5) == 5
    assert distributed.shard(10) == slice(0, 10)
    parts = [distributed.shard(10, distributed.Group(r, 3)) for r in range(3)]
    assert [(p.start, p.stop) for p in parts] == [(0, 3), (3, 6), (6, 10)]


def test_distributed_options_are_checked(prepared, tmp_path):
    done = subprocess.run([sys.executable, "-m", "ctrkit", "train", "--data", str(prepared), "--model", "lr",
                           "--out", str(tmp_path / "r"), "--set", "train.distributed.backend=mpi",
                           "--set", "train.distributed.timeout=5"], env=ENV, capture_output=True, text=True)
    assert done.returncode == 2
    assert "train.distributed.backend: expected one of auto, gloo, nccl, got 'mpi'" in done.stderr
    assert "train.distributed: unknown key 'timeout'" in done.stderr


def test_tune_refuses_torchrun(tmp_path):
    """Under torchrun every rank would run its own study in the same folder: refused, with what to
    run instead (``ctrkit prepare`` runs under torchrun: tests/test_parallel_prepare.py)."""
    env = {**ENV, "WORLD_SIZE": "2", "RANK": "1"}
    done = subprocess.run([sys.executable, "-m", "ctrkit", "tune", "--dataset", "adult", "--model", "lr", "--out", "x"],
                          env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and "runs as one process" in done.stderr
    assert not (tmp_path / "x").exists()


def test_a_run_resumes_with_another_number_of_processes(prepared, one_process, tmp_path):
    """A checkpoint does not depend on the group's size: epoch 1 on 2 processes, resumed for epoch 2
    on 1 process, ends where 2 epochs on 1 process end, and the resumed run says what changed."""
    train(prepared, tmp_path / "mixed", "deepfm", "--set", "model.dnn_units=[32,16]", "--epochs", "1", "--nproc", "2")
    done = train(prepared, tmp_path / "mixed", "deepfm", "--set", "model.dnn_units=[32,16]", "--resume",
                 "--set", "train.progress=true")
    assert "the checkpoint was written by 2 process(es), this run has 1" in done.stderr
    assert_same_run(one_process("deepfm", "--set", "model.dnn_units=[32,16]"), tmp_path / "mixed")
