"""README's speed figures are ones the RESULTS tables show (benchmarks/check_claims.py)."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_readme_figure_names_results_rows_that_give_it(tmp_path):
    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / "check_claims.py")], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "claims, each one the RESULTS tables show" in run.stdout


def test_a_figure_without_its_rows_or_with_other_figures_fails(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("FNN trained 1.5× <!-- RESULTS: adult fnn ctrkit+bf16/ctrkit train --> as fast and "
                      "DeepFM 9× faster.\n")
    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / "check_claims.py"), str(readme),
                          str(REPO / "benchmarks" / "results.json")], capture_output=True, text=True)
    assert run.returncode == 1
    assert "1.5× but the rows it names give 1.6-1.6×" in run.stderr
    assert "9× names no RESULTS rows" in run.stderr
