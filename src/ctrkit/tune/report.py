"""TUNE/report.html: the study's trials, its best trial and Optuna's plots (optimisation history,
parameter importances, slices), drawn with matplotlib and embedded as PNG."""
from __future__ import annotations

import base64
import html
import io
import os
import warnings
from typing import Any, Callable, List, Tuple


def write_tune_report(folder: str, study: Any = None) -> str:
    """Write ``folder/report.html`` for the study in ``folder``; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as views

    from .study import STUDY, summary

    if study is None:
        study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{os.path.abspath(os.path.join(folder, 'study.db'))}")
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    plots: List[Tuple[str, Callable[[], Any]]] = [("Optimisation history", lambda: views.plot_optimization_history(study))]
    if len(complete) >= 2 and any(len({str(t.params.get(k)) for t in complete}) > 1 for k in complete[0].params):
        plots.append(("Parameter importances (fANOVA)", lambda: views.plot_param_importances(study)))
    if complete:
        plots.append(("Slices: each parameter against the score", lambda: views.plot_slice(study)))
    images, notes = [], []
    for title, draw in plots:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = draw()
            figure = (axes.flat[0] if hasattr(axes, "flat") else axes).get_figure()
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
            plt.close(figure)
            images.append((title, base64.b64encode(buffer.getvalue()).decode()))
        except (ValueError, RuntimeError) as exc:   # e.g. importances of parameters that never varied
            notes.append(f"{title}: not drawn ({exc})")
    info = summary(study, folder)
    rows = "".join(
        f"<tr><td>{t.number}</td><td>{t.state.name.lower()}</td><td>{'' if t.value is None else f'{t.value:.5f}'}</td>"
        f"<td>{t.user_attrs.get('seconds', '')}</td><td>{html.escape(str(t.params))}</td></tr>"
        for t in study.get_trials(deepcopy=False))
    best = ""
    if "best" in info:
        link = "best/report.html" if os.path.exists(os.path.join(folder, "best", "report.html")) else "best/"
        best = (f"<p>Best: trial {info['best']}, valid score {info['value']:.5f}, "
                f"{html.escape(str(info['params']))}. Its run: <a href='{link}'>best/</a>; its config: "
                "<a href='best.yaml'>best.yaml</a> (<code>ctrkit train --config best.yaml</code> reproduces it).</p>")
    page = ["<!doctype html><meta charset='utf-8'><title>ctrkit tune</title>",
            "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}td,th{padding:2px 8px}"
            "table{border-collapse:collapse}tr:nth-child(even){background:#f4f4f4}</style>",
            f"<h1>Tuning: {html.escape(os.path.basename(os.path.normpath(folder)))}</h1>",
            f"<p>Trials by state: {html.escape(str(info['trials']))}.</p>", best]
    page += [f"<h2>{html.escape(t)}</h2><img src='data:image/png;base64,{b}'>" for t, b in images]
    page += [f"<p>{html.escape(n)}</p>" for n in notes]
    page.append("<h2>Trials</h2><table><tr><th>trial</th><th>state</th><th>value</th><th>seconds</th>"
                f"<th>parameters</th></tr>{rows}</table>")
    out = os.path.join(folder, "report.html")
    with open(out, "w") as fh:
        fh.write("\n".join(page))
    return out


__all__ = ["write_tune_report"]
