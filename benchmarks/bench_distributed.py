"""Training on several processes: throughput and communication, printed as Markdown tables.

    python benchmarks/bench_distributed.py [--rows 1000000] [--models lr,deepfm,autoint+]

1. Throughput: each model trains one epoch (``Trainer.fit``, the path ``ctrkit train`` runs) on
   Criteo-shaped encoded rows (26 categorical fields sharing a table of ``--table-rows`` rows, 13
   numeric fields; random ids and labels: speed does not depend on them), global batch 4096,
   embedding 16, MLP 400-400-400, as 1 process with 1 thread, 1 process with all cores, and
   ``torchrun`` with one process per core (1 thread each), with dense and with sparse embedding
   gradients. Scaling efficiency is the group's samples/s over (processes × the 1-thread rate).
2. Communication of one DeepFM step (global batch 4096 over 2 processes): the bytes of gradient
   each rank contributes to DDP's all-reduce with dense and with sparse embedding gradients
   (``model.sparse``), measured at the table sizes that fit here and computed for the rest, and
   the seconds that all-reduce takes here against the step's compute.

Every run starts fresh processes; run it alone on the machine (timings of shared cores swing).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

import numpy as np

BATCH = 4096
DIM = 16
MLP = (400, 400, 400)
N_CAT, N_NUM = 26, 13


def feature_map(table_rows: int):
    """26 categorical fields splitting a table of ``table_rows`` rows, 13 numeric fields."""
    from ctrkit.features.feature_map import FeatureMap, FieldSlot

    size = table_rows // N_CAT
    slots = [FieldSlot(f"C{i}", "categorical", i, offset=1 + i * size, size=size, owner=f"C{i}") for i in range(N_CAT)]
    slots += [FieldSlot(f"I{i}", "numeric", i) for i in range(N_NUM)]
    return FeatureMap(slots, 1 + N_CAT * size)


def rows(n: int, table_rows: int, seed: int = 0):
    from ctrkit.io.store import EncodedArrays

    rng = np.random.default_rng(seed)
    size = table_rows // N_CAT
    cat = (1 + np.arange(N_CAT) * size + rng.integers(0, size, (n, N_CAT))).astype(np.int32)
    return EncodedArrays(cat, rng.normal(size=(n, N_NUM)).astype(np.float32), np.zeros((n, 0, 0), np.int32),
                         rng.integers(0, 2, n).astype(np.float32))


def options(model: str) -> Dict[str, Any]:
    if model == "lr":
        return {}
    if model == "autoint+":
        return {"dnn_units": MLP, "attention_layers": 3, "heads": 2, "attention_dim": 32}
    return {"dnn_units": MLP}


def worker_throughput(args: argparse.Namespace) -> None:
    import torch

    from ctrkit.models import build_model
    from ctrkit.train import Trainer, distributed

    group = distributed.join()
    torch.manual_seed(0)
    model = build_model(args.model, feature_map(args.table_rows), embedding_dim=DIM, sparse=args.sparse,
                        **options(args.model))
    trainer = Trainer(model, epochs=1, batch_size=BATCH, threads=args.threads, progress=False)
    trainer.fit(rows(args.rows, args.table_rows))
    if group.main:
        print(json.dumps({"samples_per_second": trainer.history[-1]["samples_per_second"]}))
    distributed.leave()


def worker_comm(args: argparse.Namespace) -> None:
    """One DeepFM step's gradients on each rank, the bytes DDP would all-reduce, and the seconds
    that all-reduce and the step's own compute take (medians of ``--reps``)."""
    import torch
    import torch.distributed as dist

    from ctrkit.data.loader import BatchLoader
    from ctrkit.models import build_model
    from ctrkit.train import distributed
    from ctrkit.train.optim import build_optimizers

    group = distributed.join()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model("deepfm", feature_map(args.table_rows), embedding_dim=DIM, sparse=args.sparse,
                        dnn_units=MLP)
    optimizers = build_optimizers(model, "adam", 1e-3, "sparse_adam", 0.0, 0.0)
    data = rows(BATCH * 2, args.table_rows, seed=group.rank)
    batch = next(iter(BatchLoader(data, BATCH, "none", rank=group.rank, world_size=group.world_size)))
    compute, comm = [], []
    for _ in range(args.reps):
        start = time.perf_counter()
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        torch.nn.functional.binary_cross_entropy_with_logits(model(batch), batch.label).backward()
        for opt in optimizers:
            opt.step()
        compute.append(time.perf_counter() - start)
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        dense = torch.cat([g.flatten() for g in grads if not g.is_sparse])
        sparse = [g.coalesce() for g in grads if g.is_sparse]
        dist.barrier()
        start = time.perf_counter()
        dist.all_reduce(dense)
        for g in sparse:
            dist.all_reduce(g)
        comm.append(time.perf_counter() - start)
    sent = dense.numel() * 4 + sum(g._nnz() * (8 + g.values()[0].numel() * 4) for g in sparse)
    if group.main:
        print(json.dumps({"bytes": sent, "dense_bytes": dense.numel() * 4, "compute_s": statistics.median(compute),
                          "comm_s": statistics.median(comm)}))
    distributed.leave()


def launch(mode: str, procs: int, extra: List[str]) -> Dict[str, Any]:
    here = os.path.abspath(__file__)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if procs > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}", here]
    else:
        command = [sys.executable, here]
    done = subprocess.run([*command, "--worker", mode, *extra], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def throughput_table(args: argparse.Namespace) -> List[str]:
    cores = len(os.sched_getaffinity(0))
    lines = [f"| model | 1 process × 1 thread | 1 process × {cores} threads | {cores} processes × 1 thread "
             f"(torchrun) | scaling efficiency | {cores} processes, sparse tables | scaling efficiency |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for model in args.models.split(","):
        common = ["--model", model, "--rows", str(args.rows), "--table-rows", str(args.table_rows)]
        one = launch("throughput", 1, [*common, "--threads", "1"])["samples_per_second"]
        all_threads = launch("throughput", 1, [*common, "--threads", str(cores)])["samples_per_second"]
        group = launch("throughput", cores, [*common, "--threads", "1"])["samples_per_second"]
        sparse = launch("throughput", cores, [*common, "--threads", "1", "--sparse"])["samples_per_second"]
        lines.append(f"| {model} | {one:,.0f} | {all_threads:,.0f} | {group:,.0f} | {group / (cores * one):.0%} | "
                     f"{sparse:,.0f} | {sparse / (cores * one):.0%} |")
        print(lines[-1], flush=True)
    return lines


def comm_table(args: argparse.Namespace) -> List[str]:
    lines = ["| table rows | gradients | bytes per rank per step | all-reduce s (here, gloo) | compute s | "
             "communication share |", "|---:|---|---:|---:|---:|---:|"]
    for table_rows in (1_000_000, 10_000_000):
        for sparse in (False, True):
            r = launch("comm", 2, ["--table-rows", str(table_rows), "--reps", str(args.reps),
                                   *(["--sparse"] if sparse else [])])
            share = r["comm_s"] / (r["comm_s"] + r["compute_s"])
            lines.append(f"| {table_rows:,} | {'sparse' if sparse else 'dense'} | {r['bytes'] / 2**20:,.1f} MiB | "
                         f"{r['comm_s']:.3f} | {r['compute_s']:.3f} | {share:.0%} |")
            print(lines[-1], flush=True)
    for table_rows in (100_000_000,):   # computed: (table + linear term) x 4 bytes, dense; sparse as measured
        lines.append(f"| {table_rows:,} | dense | {table_rows * (DIM + 1) * 4 / 2**20:,.0f} MiB (computed) | | | |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=("throughput", "comm"))
    parser.add_argument("--model", default="deepfm")
    parser.add_argument("--models", default="lr,deepfm,autoint+")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--table-rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sparse", action="store_true")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--skip", default="", help="comma list of parts to skip: throughput, comm")
    args = parser.parse_args()
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
    if args.worker == "throughput":
        return worker_throughput(args)
    if args.worker == "comm":
        return worker_comm(args)
    out = [f"`python benchmarks/bench_distributed.py --rows {args.rows}` on {len(os.sched_getaffinity(0))} cores, "
           f"{time.strftime('%Y-%m-%d')}", ""]
    if "throughput" not in args.skip:
        out += throughput_table(args) + [""]
    if "comm" not in args.skip:
        out += comm_table(args)
    print("\n".join(out))
    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False, prefix="bench_distributed_") as fh:
        fh.write("\n".join(out) + "\n")
    print(f"(also written to {fh.name})")


if __name__ == "__main__":
    main()
