"""TorchRec's sharded tables against ctrkit's DDP tables, on CPU processes (issue 20's optional backend).

    python benchmarks/bench_torchrec.py [--rows 1000000,10000000] [--processes 2] [--steps 20]

Needs TorchRec beside torch in the interpreter that runs it. Its metadata asks for the CUDA
``fbgemm-gpu``, so install it without dependencies, with the CPU kernels and the rest by hand:

    pip install --no-deps torchrec==1.8.0 fbgemm-gpu-cpu==1.8.0
    pip install tensordict torchmetrics==1.0.3 tqdm pyre-extensions -c constraints.txt

The model is Criteo-shaped: 26 single-id fields of ``rows / 26`` ids each, dimension 16, under a
400-400-1 MLP, at a global batch of 4,096 split between the processes (1 thread each). Each
configuration runs in its own ``torchrun`` group and prints the slowest rank's step time and each
rank's peak memory:

- ``ddp``: one fused ``nn.Embedding`` (ctrkit's layout) under DistributedDataParallel, with its
  dense gradient all-reduced every step;
- ``ddp-sparse``: the same with sparse gradients (``model.sparse: true`` in ctrkit);
- ``torchrec``: an ``EmbeddingBagCollection`` of 26 tables sharded by ``DistributedModelParallel``
  (TorchRec's planner chooses the plan; the tables live on one rank each, lookups travel by all-to-all,
  and the optimizer is fused into the backward pass).

Every configuration uses Adagrad for the tables (TorchRec's CPU kernels refuse Adam) and Adam for
the MLP.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time

FIELDS, DIM, BATCH = 26, 16, 4096


def worker(rows: int, mode: str, steps: int) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    per = rows // FIELDS
    gen = torch.Generator().manual_seed(rank)
    mlp = torch.nn.Sequential(torch.nn.Linear(FIELDS * DIM, 400), torch.nn.ReLU(), torch.nn.Linear(400, 400),
                              torch.nn.ReLU(), torch.nn.Linear(400, 1))
    if mode.startswith("ddp"):
        step = _ddp_step(torch, mlp, per, sparse=mode == "ddp-sparse")
    else:
        step, plan = _torchrec_step(torch, dist, mlp, per)
        if rank == 0:
            print("PLAN " + plan)
    data = [(torch.randint(0, per, (BATCH // world, FIELDS), generator=gen),
             torch.randint(0, 2, (BATCH // world,), generator=gen).float()) for _ in range(steps + 3)]
    for ids, y in data[:3]:
        step(ids, y)
    dist.barrier()
    start = time.perf_counter()
    for ids, y in data[3:]:
        step(ids, y)
    dist.barrier()
    ms = (time.perf_counter() - start) / steps * 1000
    out = [None] * world
    dist.all_gather_object(out, (ms, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    if rank == 0:
        slowest = max(o[0] for o in out)
        print(f"RESULT {mode} {rows} {world} {slowest:.1f} {BATCH / slowest * 1000:.0f} "
              + ",".join(f"{o[1]:.0f}" for o in out))
    dist.destroy_process_group()


def _ddp_step(torch, mlp, per: int, sparse: bool):
    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(per * FIELDS, DIM, sparse=sparse)
            self.mlp = mlp
            self.register_buffer("offsets", torch.arange(FIELDS) * per)

        def forward(self, ids):
            return self.mlp(self.emb(ids + self.offsets).flatten(1)).squeeze(1)

    model = torch.nn.parallel.DistributedDataParallel(Model())
    optimizers = [torch.optim.Adagrad(model.module.emb.parameters(), lr=1e-2),
                  torch.optim.Adam(mlp.parameters(), lr=1e-3)]

    def step(ids, y):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(ids), y)
        for opt in optimizers:
            opt.zero_grad()
        loss.backward()
        for opt in optimizers:
            opt.step()
    return step


def _torchrec_step(torch, dist, mlp, per: int):
    from torchrec import EmbeddingBagCollection, EmbeddingBagConfig, KeyedJaggedTensor
    from torchrec.distributed.model_parallel import DistributedModelParallel
    from torchrec.distributed.types import ShardingEnv
    from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward

    keys = [f"f{i}" for i in range(FIELDS)]
    tables = [EmbeddingBagConfig(name=f"t{i}", embedding_dim=DIM, num_embeddings=per, feature_names=[k])
              for i, k in enumerate(keys)]

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ebc = EmbeddingBagCollection(tables=tables, device=torch.device("meta"))
            self.mlp = mlp

        def forward(self, kjt):
            return self.mlp(self.ebc(kjt).values()).squeeze(1)

    module = Model()
    apply_optimizer_in_backward(torch.optim.Adagrad, module.ebc.parameters(), {"lr": 1e-2})
    model = DistributedModelParallel(module, device=torch.device("cpu"),
                                     env=ShardingEnv.from_process_group(dist.group.WORLD))
    dense = torch.optim.Adam([p for n, p in model.named_parameters() if "ebc" not in n], lr=1e-3)
    plan = sorted({(s.sharding_type, s.compute_kernel) for m in model.plan.plan.values() for s in m.values()})

    def step(ids, y):
        kjt = KeyedJaggedTensor.from_lengths_sync(keys=keys, values=ids.t().reshape(-1),
                                                  lengths=torch.ones(ids.numel(), dtype=torch.int32))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(kjt), y)
        dense.zero_grad()
        loss.backward()
        dense.step()
    return step, str(plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="1000000,10000000")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--modes", default="ddp,ddp-sparse,torchrec")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(int(args.worker[0]), args.worker[1], int(args.worker[2]))
        return
    print(f"{args.processes} processes × 1 thread, global batch {BATCH}, {FIELDS} fields × dim {DIM}, "
          f"{args.steps} timed steps")
    print(f"{'mode':<11} {'table rows':>11} {'step ms':>8} {'samples/s':>10} {'peak RSS MB per rank':>21}  plan")
    for rows in (int(r) for r in args.rows.split(",")):
        for mode in args.modes.split(","):
            done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                   f"--nproc-per-node={args.processes}", __file__, "--worker", str(rows), mode,
                                   str(args.steps)], capture_output=True, text=True,
                                  env={**os.environ, "OMP_NUM_THREADS": "1"})
            result = re.search(r"^RESULT (\S+) (\d+) (\d+) (\S+) (\d+) (\S+)$", done.stdout, re.M)
            if not result:
                print(f"{mode:<11} {rows:>11,} failed: {(done.stderr or done.stdout).strip().splitlines()[-1]}")
                continue
            plan = re.search(r"^PLAN (.*)$", done.stdout, re.M)
            print(f"{mode:<11} {rows:>11,} {float(result[4]):>8.1f} {int(result[5]):>10,} {result[6]:>21}  "
                  f"{plan[1] if plan else ''}")


if __name__ == "__main__":
    main()
