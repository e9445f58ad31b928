"""Commands that train and use models: ``train``, ``evaluate``, ``predict``, ``export``, ``report``
and ``models`` (each imports what it needs when it runs)."""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from typing import Any, Dict, Optional, Tuple

from .options import parse_label_map, read_options, split_names


def _train_flags(args: argparse.Namespace) -> Dict[str, Any]:
    """Flags of ``ctrkit train`` as dotted config keys (None = not given)."""
    flags: Dict[str, Any] = {
        "train.epochs": args.epochs, "train.batch_size": args.batch_size, "model.embedding_dim": args.embedding_dim,
        "train.lr": args.lr, "seed": args.seed, "out": args.out, "model.name": args.model,
        "data.dataset": args.dataset, "data.train": args.train, "data.valid": args.valid, "data.test": args.test,
        "data.label": args.label, "train.device": args.device, "train.bf16": args.bf16,
    }
    if args.categorical:
        flags["data.categorical"] = split_names(args.categorical)
    if args.numeric:
        flags["data.numeric"] = split_names(args.numeric)
    if args.sequence:
        flags["data.sequence"] = split_names(args.sequence)
    if args.label_map:
        flags["data.label_map"] = parse_label_map(args.label_map)
    if args.path:
        flags["data.options.path"] = args.path
    if args.schema:
        flags["data.schema"] = args.schema
    if args.data:
        flags["data.prepared"] = args.data
    read = read_options(args)
    if read:
        flags["data.read"] = read
    return flags


def cmd_train(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..experiment import run_dir, run_experiment

    config = load_config(args.config, args.set or (), **_train_flags(args))
    if args.nproc is not None:
        return launch_torchrun(args)
    from ..train import distributed

    group = distributed.join(config["train"]["distributed"], config["train"]["device"])
    resume, overwrite = args.resume, args.overwrite
    if distributed.restarted() and not resume:
        resume, overwrite = _after_restart(config, run_dir(config), overwrite, group.main)
    try:
        metrics = run_experiment(config, resume=resume, overwrite=overwrite)
    except BaseException:
        distributed.leave(finished=False)
        raise
    distributed.leave()
    if group.main:
        print(f"\nrun: {run_dir(config)}" + (f" (trained by {group.world_size} processes)" if group.active else ""))
        print(metrics_table(metrics))
    return 0


def launch_torchrun(args: argparse.Namespace) -> int:
    """``ctrkit train|prepare ... --nproc N``: the same command under ``torchrun --standalone``
    with N processes on this machine (torchrun's agent runs in this process). A process that
    fails has printed its error; torchrun's own traceback is replaced by a line naming it."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    from ..errors import CTRKitError

    if args.nproc < 1:
        raise CTRKitError(f"--nproc: expected at least 1 process, got {args.nproc}")
    argv, skip = [], False
    for item in args.argv:
        if skip or item == "--nproc" or item.startswith("--nproc="):
            skip = item == "--nproc"
            continue
        argv.append(item)
    print(f"launching {args.nproc} processes: torchrun --standalone --nproc-per-node {args.nproc} -m ctrkit "
          + " ".join(argv), file=sys.stderr)
    try:
        run(parse_args(["--standalone", f"--nproc-per-node={args.nproc}", "-m", "ctrkit", *argv]))
    except ChildFailedError as exc:
        ranks = sorted(exc.failures)
        raise CTRKitError(f"{'process' if len(ranks) == 1 else 'processes'} {', '.join(map(str, ranks))} of "
                          f"{args.nproc} failed (see the error above)") from None
    return 0


def _after_restart(config: Dict[str, Any], out: str, overwrite: bool, say: bool) -> Tuple[bool, bool]:
    """(resume, overwrite) for a group that torchrun restarted after a failure: resume from the
    run's last checkpoint; without one, start again, replacing only what this same config began
    (a folder holding a finished run, or another config's, stays refused unless ``overwrite``)."""
    from ..experiment import stored_config

    if os.path.exists(os.path.join(out, "checkpoint", "state.pt")) or \
            os.path.exists(os.path.join(out, "checkpoint.old", "state.pt")):
        if say:
            print("torchrun restarted the group: resuming from the last checkpoint", file=sys.stderr)
        return True, overwrite
    ours = os.path.join(out, "config.yaml")
    began = os.path.exists(ours) and not os.path.exists(os.path.join(out, "metrics.json"))
    if began:
        with open(ours) as fh:
            began = fh.read() == stored_config(config)
    return False, overwrite or began


def cmd_tune(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..errors import CTRKitError

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:   # torchrun: every rank would run its own study
        raise CTRKitError("ctrkit tune runs as one process: its --jobs run trials in parallel (not under torchrun)")
    if importlib.util.find_spec("optuna") is None:
        raise CTRKitError("ctrkit tune needs its extra: pip install 'ctrkit[tune]' (Optuna is not installed)")
    from ..tune import tune

    flags = {**_train_flags(args), "out": None}
    config = load_config(args.config, args.set or (), **flags)
    result = tune(config, args.out, trials=args.trials, jobs=args.jobs, timeout=parse_seconds(args.timeout),
                  resume=args.resume)
    print(f"\ntune: {args.out}; trials {result['trials']}")
    if "best" in result:
        print(f"best: trial {result['best']}, valid score {result['value']:.5f}, {result['params']}")
        print(f"its run: {result['run']}; its config: {result['config']} (ctrkit train --config reproduces it)")
    print(f"report: {os.path.join(args.out, 'report.html')}")
    return 0


def parse_seconds(text: Optional[str]) -> Optional[float]:
    """'90', '90s', '30m', '2h' → seconds (None stays None)."""
    if text is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], units[text[-1]]) if text and text[-1] in units else (text, 1)
    try:
        seconds = float(number) * unit
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        from ..errors import CTRKitError

        raise CTRKitError(f"--timeout: expected seconds or a duration such as 90s, 30m, 2h; got {text!r}")
    return seconds


def metrics_table(metrics: Dict[str, Any]) -> str:
    keys = ("auc", "logloss", "accuracy", "precision", "recall", "f1", "ece")
    splits = [s for s in ("valid", "test") if s in metrics]
    lines = [f"{'model: ' + metrics['model']:<22}" + "".join(f"{s:>10}" for s in splits)]
    for k in keys:
        if any(k in metrics[s] for s in splits):
            lines.append(f"{k:<22}" + "".join(f"{metrics[s].get(k, float('nan')):>10.4f}" for s in splits))
    t = metrics.get("train", {})
    lines.append(f"trained {t.get('epochs')} epochs (best {t.get('best_epoch')}) in {t.get('seconds', 0):.1f} s, "
                 f"{t.get('samples_per_second', 0):,.0f} samples/s")
    return "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..runs import load_run

    run = load_run(args.run)
    metrics = run.evaluate(args.data, label_map=parse_label_map(args.label_map), **read_options(args))
    text = json.dumps(metrics, indent=1)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    print(text)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ..runs import predict_file

    rows = predict_file(args.run, args.input, args.output, args.engine, **read_options(args))
    print(f"wrote {rows:,} predictions to {args.output}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..runs import load_run
    from ..inference.onnx import export_onnx

    out = args.out or os.path.join(args.run, "model-int8.onnx" if args.int8 else "model.onnx")
    export_onnx(load_run(args.run).model, out, args.int8)
    print(f"wrote {out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ..report import write_report

    if os.path.exists(os.path.join(args.run, "study.db")):   # a tune folder: its study's report and its best run's
        from ..tune.report import write_tune_report

        if os.path.exists(os.path.join(args.run, "best", "model.safetensors")):
            print(f"wrote {write_report(os.path.join(args.run, 'best'))}")
        print(f"wrote {write_tune_report(args.run)}")
        return 0
    print(f"wrote {write_report(args.run)}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ..errors import CTRKitError

    try:
        from ..serve import serve
    except ImportError as exc:
        raise CTRKitError(f"ctrkit serve needs its extra: pip install 'ctrkit[serve]' ({exc})") from None
    for name, value, least in (("--workers", args.workers, 1), ("--max-rows", args.max_rows, 1),
                               ("--max-body-bytes", args.max_body_bytes, 1), ("--max-batch-wait-ms",
                                                                              args.max_batch_wait_ms, 0)):
        if value < least:
            raise CTRKitError(f"{name}: expected at least {least}, got {value}")
    print(f"serving {args.run} on http://{args.host}:{args.port} ({args.workers} worker(s); "
          f"POST /predict, GET /health /ready /metadata /metrics /docs)", flush=True)
    serve(args.run, host=args.host, port=args.port, workers=args.workers, engine=args.engine,
          max_rows=args.max_rows, max_body_bytes=args.max_body_bytes, max_batch_wait_ms=args.max_batch_wait_ms,
          ignore_unknown_fields=args.ignore_unknown_fields, admin_token=args.admin_token)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from ..models import MODELS

    for name, cls in MODELS.items():
        print(f"{name:<9} {cls.paper}")
    return 0
