"""Every documented CLI form of the built-in datasets on tiny files in their original layouts, and
runs that read their own dataset's files back with no format flags."""
import json

import pytest

from conftest import AVAZU_HEADER, avazu_line, criteo_line, write_frappe, write_ml100k, write_text
from ctrkit.cli import main
from ctrkit.datasets import DATASETS

FAST = ["--model", "lr", "--epochs", "1", "--batch-size", "64", "--set", "train.threads=1",
        "--set", "train.progress=false"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    criteo = root / "criteo"
    write_text(criteo / "train.txt", "".join(criteo_line(i % 2, i) for i in range(200)))
    write_text(criteo / "valid.txt", "".join(criteo_line(i % 2, i) for i in range(40)))
    write_text(criteo / "test.txt", "".join(criteo_line((i + 1) % 2, i) for i in range(40)))
    avazu = root / "avazu"
    write_text(avazu / "train.csv", AVAZU_HEADER + "".join(avazu_line(i) for i in range(200)))
    write_text(avazu / "dev.csv", "".join(avazu_line(i, "14102523") for i in range(40)))   # no header
    write_frappe(root / "frappe", rows=60)
    write_ml100k(root / "ml100k")
    return root


def cli(capsys, *args, code=0):
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    assert rc == code, out.err[-2000:]
    assert "Traceback" not in out.err
    return out


# (dataset, the file flags of each documented form)
FORMS = [
    ("criteo", ["--train", "criteo/train.txt"]),
    ("criteo", ["--train", "criteo/train.txt", "--valid", "criteo/valid.txt", "--test", "criteo/test.txt"]),
    ("criteo", ["--path", "criteo/train.txt"]),
    ("criteo", ["--path", "criteo"]),                      # a folder: train.*, valid.*, test.*
    ("avazu", ["--train", "avazu/train.csv", "--valid", "avazu/dev.csv"]),
    ("avazu", ["--path", "avazu"]),                        # dev.* is the valid split
    ("frappe", ["--path", "frappe"]),
    ("movielens", ["--path", "ml100k"]),
    ("adult", []),
    ("synthetic", []),
]


@pytest.mark.parametrize("dataset, flags", FORMS, ids=[f"{d}:{' '.join(f)}" for d, f in FORMS])
def test_every_dataset_trains_and_prepares_in_every_documented_form(files, tmp_path, capsys, dataset, flags):
    flags = [str(files / f) if f.startswith(("criteo", "avazu", "frappe", "ml100k")) else f for f in flags]
    extra = ["--set", "data.options.n_rows=2000"] if dataset == "synthetic" else []
    out = cli(capsys, "train", "--dataset", dataset, *flags, *FAST, *extra, "--out", tmp_path / "run")
    assert "auc" in out.out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0 <= metrics["valid"]["auc"] <= 1
    rows = ["--rows", "2000"] if dataset == "synthetic" else []
    out = cli(capsys, "prepare", "--dataset", dataset, *flags, *rows, "--out", tmp_path / "prepared")
    assert "written to" in out.out
    out = cli(capsys, "train", "--data", tmp_path / "prepared", *FAST, "--out", tmp_path / "from_prepared")
    assert json.loads((tmp_path / "from_prepared" / "metrics.json").read_text())["model"] == "lr"


def test_datasets_lists_what_each_dataset_takes(capsys):
    out = cli(capsys, "datasets").out
    for name, entry in DATASETS.items():
        line = next(line for line in out.splitlines() if line.startswith(name))
        assert entry.description in line
    assert "criteo" in out and "--train FILE [--valid FILE --test FILE] or --path FILE|FOLDER" in out
    assert "options: log=True, buckets=None, min_count=1, seed=0" in out


@pytest.mark.parametrize("args, message", [
    (["--dataset", "criteo"], "dataset 'criteo' needs your copy of its files"),
    (["--dataset", "frappe"], "dataset 'frappe' needs --path FOLDER"),
    (["--dataset", "synthetic", "--train", "x.csv"], "x.csv does not exist"),
    (["--dataset", "adult", "--set", "data.options.bogus=1"], "dataset 'adult' takes no option bogus"),
    (["--dataset", "criteo", "--path", "{criteo}", "--train", "{criteo}/train.txt"], "give --path or --train"),
    (["--data", "{criteo}"], "not a prepared data folder"),
    (["--dataset", "adult", "--data", "{criteo}"], "give one of data.dataset, data.train or data.prepared"),
])
def test_dataset_mistakes_are_messages_and_leave_no_run(files, tmp_path, capsys, args, message):
    args = [a.format(criteo=files / "criteo") for a in args]
    err = cli(capsys, "train", *args, *FAST, "--out", tmp_path / "run", code=2).err
    assert message in err
    assert not (tmp_path / "run").exists()


def test_a_run_reads_its_datasets_files_back_without_format_flags(files, tmp_path, capsys):
    """Frappe's libFM test file and Criteo's header-less TSV, evaluated and scored by the runs
    trained on them, with no --sep/--columns/--no-header."""
    cli(capsys, "train", "--dataset", "frappe", "--path", files / "frappe", *FAST, "--out", tmp_path / "frappe")
    metrics = json.loads(cli(capsys, "evaluate", "--run", tmp_path / "frappe",
                             "--data", files / "frappe" / "frappe.test.libfm.gz").out)
    assert 0 <= metrics["auc"] <= 1 and metrics["observed_rate"] == pytest.approx(20 / 60)
    cli(capsys, "train", "--dataset", "criteo", "--train", files / "criteo" / "train.txt", *FAST,
        "--out", tmp_path / "criteo")
    metrics = json.loads(cli(capsys, "evaluate", "--run", tmp_path / "criteo",
                             "--data", files / "criteo" / "test.txt").out)
    assert metrics["observed_rate"] == pytest.approx(0.5)
    out = cli(capsys, "predict", "--run", tmp_path / "criteo", "--input", files / "criteo" / "test.txt",
              "--output", tmp_path / "scored.csv").out
    assert "wrote 40 predictions" in out
    header = (tmp_path / "scored.csv").read_text().splitlines()[0]
    assert header.startswith("label,I1,") and header.endswith(",probability")
    assert (tmp_path / "scored.csv").read_text().splitlines()[1].startswith("1,0,,-1,0,1,")   # numbers unquoted


def test_a_run_remembers_the_read_options_of_your_files(tmp_path, capsys):
    body = "".join(f"{i % 2};{'ab'[i % 3 == 0]};{i % 7}\n" for i in range(300))
    write_text(tmp_path / "train.txt", body)
    cli(capsys, "train", "--train", tmp_path / "train.txt", "--sep", ";", "--no-header", "--columns", "y,c,n",
        "--label", "y", "--categorical", "c", "--numeric", "n", *FAST, "--out", tmp_path / "run")
    metrics = json.loads(cli(capsys, "evaluate", "--run", tmp_path / "run", "--data", tmp_path / "train.txt").out)
    assert metrics["observed_rate"] == pytest.approx(0.5)


@pytest.mark.parametrize("template, sample", [("criteo_deepfm", ("criteo", "wide_resdnn")),
                                              ("avazu_autoint_plus", ("avazu", "wide_resdnn"))])
def test_templates_learn_on_the_shared_samples_with_their_noted_flags(tmp_path, capsys, template, sample):
    """The flags each template's comment gives for an 8k-row sample reach a useful AUC."""
    from conftest import shared_data

    folder = shared_data(*sample)
    ext = ".csv"
    cli(capsys, "train", "--config", f"configs/{template}.yaml", "--train", folder / f"train{ext}", "--valid",
        folder / f"dev{ext}", "--test", folder / f"test{ext}", "--batch-size", "256", "--set", "train.patience=3",
        "--set", "data.options.min_count=1", "--set", "train.threads=1", "--set", "train.progress=false",
        "--out", tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["valid"]["auc"] > 0.68, metrics["valid"]
