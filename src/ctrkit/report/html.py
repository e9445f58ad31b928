"""``ctrkit report``: PNG plots in RUN/plots and one self-contained RUN/report.html."""
from __future__ import annotations

import base64
import html
import json
import os
import re
from typing import Dict, List

from ..errors import reading
from ..runs import load_run
from .importance import field_weights, history_weights, pair_importance
from .plots import (field_bars, learning_curves, pair_heatmap, position_bars, read_history, reliability_plot, roc_plot,
                    uniform_note)

METRIC_ORDER = ("auc", "logloss", "accuracy", "precision", "recall", "f1", "mean_prediction", "observed_rate", "ece")


def write_report(folder: str) -> str:
    """Draw the run's plots and write report.html; returns its path."""
    run = load_run(folder)
    plots = os.path.join(folder, "plots")
    os.makedirs(plots, exist_ok=True)
    images: List[tuple] = []
    history_path = os.path.join(folder, "history.csv")
    if os.path.exists(history_path):
        path = os.path.join(plots, "learning_curves.png")
        with reading(history_path, "run's history"):
            history = read_history(history_path)
        learning_curves(history, path)
        images.append(("Learning curves", path))
    metrics_path = os.path.join(folder, "metrics.json")
    with reading(metrics_path, "run's metrics"), open(metrics_path) as fh:
        metrics = json.load(fh)
    split_name = "test" if run.split("test") is not None else "valid"
    split = run.split(split_name)
    if split is not None and split.label is not None and run.model.task == "binary":
        p = run.predict(split)
        path = os.path.join(plots, "roc.png")
        roc_plot(split.label, p, metrics.get(split_name, {}).get("auc", float("nan")), path)
        images.append((f"ROC ({split_name})", path))
        path = os.path.join(plots, "calibration.png")
        reliability_plot(split.label, p, path)
        images.append((f"Calibration ({split_name})", path))
        importance = pair_importance(run.model, split)
        if importance is not None:
            matrix, names, what = importance
            path = os.path.join(plots, "field_pairs.png")
            pair_heatmap(matrix, names, what, path)
            note = uniform_note(matrix)
            images.append((f"Field-pair importance ({split_name})" + (f" — {note}" if note else ""), path))
        weights = field_weights(run.model, split)
        if weights is not None:
            path = os.path.join(plots, "field_weights.png")
            field_bars(*weights, path)
            images.append((f"Field weights ({split_name})", path))
        for field, weights in (history_weights(run.model, split) or {}).items():
            path = os.path.join(plots, "history_" + re.sub(r"[^\w.-]", "_", field) + ".png")
            position_bars(weights.by_position, f"DIN weights over '{field}' by position (mean over items)", path)
            images.append((f"History weights of '{field}' ({split_name}): {weights.on_target:.3f} on items equal to "
                           f"the row's target, {weights.on_others:.3f} on the others", path))
    out = os.path.join(folder, "report.html")
    with open(out, "w") as fh:
        fh.write(_page(run.config, metrics, images))
    return out


def _table(metrics: Dict) -> str:
    splits = [s for s in ("valid", "test") if s in metrics]
    keys = [k for k in METRIC_ORDER if any(k in metrics[s] for s in splits)]
    head = "".join(f"<th>{s}</th>" for s in splits)
    rows = "".join(f"<tr><td>{k}</td>" + "".join(f"<td>{metrics[s].get(k, float('nan')):.4f}</td>" for s in splits)
                   + "</tr>" for k in keys)
    train = metrics.get("train", {})
    info = ", ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in train.items())
    return f"<table><tr><th>metric</th>{head}</tr>{rows}</table><p>training — {html.escape(info)}</p>"


def _page(config: Dict, metrics: Dict, images: List[tuple]) -> str:
    title = f"ctrkit report — {config['model']['name']} on {config['data'].get('dataset') or 'custom data'}"
    figures = []
    for caption, path in images:
        with open(path, "rb") as fh:
            data = base64.b64encode(fh.read()).decode()
        figures.append(f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
                       f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
             "figure{display:inline-block;margin:1em}img{max-width:100%}pre{background:#f6f6f6;padding:1em}")
    config_text = html.escape(json.dumps(config, indent=1))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1><h2>Metrics</h2>{_table(metrics)}"
            f"<h2>Plots</h2>{''.join(figures)}<h2>Config</h2><pre>{config_text}</pre></body></html>")
