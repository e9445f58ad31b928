"""benchmarks/model_auc.py: the AUC table over seeds, runs side by side (--jobs) and kept for a resume (--keep)."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def model_auc(*args: str) -> str:
    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / "model_auc.py"), "--datasets", "adult",
                          "--models", "lr", "--seeds", "2", "--set", "train.epochs=2", *args],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_two_seeds_side_by_side_are_kept_and_a_rerun_takes_them_instead_of_training(tmp_path):
    out, keep = tmp_path / "AUC.md", tmp_path / "runs"
    out.write_text("# Test AUC\n\nintro\n\n## criteo-sample\n\nkept as it was\n")
    model_auc("--jobs", "2", "--keep", str(keep), "--out", str(out))
    table = out.read_text()
    assert "## criteo-sample\n\nkept as it was\n" in table
    assert "--models lr --seeds 2 --set train.epochs=2 --jobs 2`" in table
    row = next(line for line in table.splitlines() if line.startswith("| lr |"))
    assert row.startswith("| lr | 2 | 0.9") and " ± " in row, row

    kept = sorted(keep.glob("*.json"))
    assert len(kept) == 2
    runs = [json.loads(path.read_text()) for path in kept]
    assert sorted(r["command"][r["command"].index("--seed") + 1] for r in runs) == ["0", "1"]
    assert all("train.threads=1" in r["command"] and 0.5 < r["metrics"]["test"]["auc"] < 1 for r in runs)

    # the rerun trains nothing: it reports what the kept files say
    for path, r in zip(kept, runs):
        r["metrics"]["test"]["auc"] = 0.25
        path.write_text(json.dumps(r))
    printed = model_auc("--jobs", "2", "--keep", str(keep), "--out", str(out))
    assert "| lr | 2 | 0.2500 ± 0.0000 |" in printed
    assert "| lr | 2 | 0.2500 ± 0.0000 |" in out.read_text()

    # --merge: lr's row replaces the old one; fm's row, the note and the first command stay
    first = "`python benchmarks/model_auc.py --datasets adult --models lr,fm --seeds 5` (2026-01-01)"
    out.write_text(f"# Test AUC\n\n## adult\n\n{first}\n\nConfig: configs/adult_M.yaml\n\n"
                   "| model | seeds | test AUC | test logloss | valid AUC | epochs (best) | seconds |\n"
                   "|---|---|---|---|---|---|---|\n| lr | 5 | 0.1 |\n| fm | 5 | 0.2 |\n\nA note.\n")
    model_auc("--jobs", "2", "--keep", str(keep), "--merge", "--out", str(out))
    lines = out.read_text().splitlines()
    assert lines[4] == first and lines[5].startswith("`python benchmarks/model_auc.py --datasets adult --models lr ")
    assert lines[5].endswith(("--jobs 2 --merge` (" + lines[5].split("` (")[1]))
    table = lines.index("|---|---|---|---|---|---|---|")
    assert lines[table + 1].startswith("| lr | 2 | 0.2500 ± 0.0000 |") and lines[table + 2] == "| fm | 5 | 0.2 |"
    assert lines[table + 3:] == ["", "A note."]
