"""The bad-input catalogue: each mistake a newcomer makes, fed through the CLI, gets a non-zero exit,
a message that names the file, field or value (never a traceback), and leaves an existing run as
it was."""
import hashlib
import shutil
import subprocess
import sys

import pytest

from conftest import write_text
from ctrkit.cli import main

QUIET = ["--set", "train.threads=1", "--set", "train.progress=false"]
FAST = ["--model", "lr", "--epochs", "1", "--batch-size", "256", *QUIET]
GOOD = "a,b,y\n" + "".join(f"{i % 13},{'xyz'[i % 3]},{i % 2}\n" for i in range(60))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A finished run, data files with one mistake each, and damaged copies of the run."""
    root = tmp_path_factory.mktemp("catalogue")
    files = {
        "good": GOOD,
        "bad_number": GOOD.replace("\n5,z,1\n", "\nfive,z,1\n", 1),
        "ragged": GOOD.replace("\n7,y,1\n", "\n7,y,1,extra\n", 1),
        "one_class": "a,b,y\n" + "".join(f"{i},{'xy'[i % 2]},1\n" for i in range(30)),
        "bad_label": GOOD.replace("\n3,x,1\n", "\n3,x,yes\n", 1),
        "empty": "",
        "dupe_header": "a,a,y\n1,2,0\n",
        "no_label": "a,b\n1,x\n2,y\n",
        "no_feature": "b,y\nx,1\ny,0\n",
        "bad_yaml": "model:\n  name: lr\n train: [\n",
        "typo_yaml": "data: {dataset: adult}\nmodel: {name: lr}\ntrian: {epochs: 1}\n",
        "bad_schema": "label: y\nfields:\n- {name: a, type: numeric, bukets: 4}\n",
    }
    for name, text in files.items():
        ext = ".yaml" if name.endswith(("yaml", "schema")) else ".csv"
        write_text(root / f"{name}{ext}", text)
    (root / "latin1.csv").write_bytes("a,b,y\n1,caf\u00e9,1\n2,x,0\n".encode("latin-1"))
    (root / "folder.csv").mkdir()
    run = root / "run"
    assert main(["train", "--train", str(root / "good.csv"), "--label", "y", "--numeric", "a", "--categorical", "b",
                 "--out", str(run), *FAST]) == 0
    damaged = {}
    for name in ("model.safetensors", "processor.json", "config.yaml", "checkpoint/state.pt", "data/valid/cat.npy",
                 "metrics.json"):
        copy = root / f"damaged_{name.replace('/', '_')}"
        shutil.copytree(run, copy)
        target = copy / name
        target.write_bytes(target.read_bytes()[: max(8, target.stat().st_size // 3)])
        damaged[name] = copy
    return {"root": root, "run": run, "damaged": damaged}


def snapshot(folder):
    return {p.relative_to(folder).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def train_files(name, *extra):
    return ["train", "--train", f"{{root}}/{name}.csv", "--label", "y", "--numeric", "a", "--categorical", "b",
            *FAST, *extra]


# (id, the command line, what the message must say)
CASES = [
    ("folder as data file", train_files("folder"), "folder.csv: is a folder; expected a data file"),
    ("batch size 0", train_files("good", "--batch-size", "0"), "train.batch_size: expected at least 1, got 0"),
    ("negative lr", train_files("good", "--lr", "-0.1"), "train.lr"),
    ("embedding dim 0", train_files("good", "--embedding-dim", "0"), "model.embedding_dim: expected at least 1, got 0"),
    ("epochs 0", train_files("good", "--epochs", "0"), "train.epochs: expected at least 1, got 0"),
    ("negative epochs", train_files("good", "--epochs", "-2"), "train.epochs: expected at least 1, got -2"),
    ("table too large", train_files("good", "--model", "deepfm", "--embedding-dim", "4000000"),
     "needs"),
    ("yaml syntax", ["train", "--config", "{root}/bad_yaml.yaml"], "bad_yaml.yaml, line 3, column 2: not valid YAML"),
    ("yaml typo key", ["train", "--config", "{root}/typo_yaml.yaml"], "unknown key trian; valid keys"),
    ("unknown dataset option", ["train", "--dataset", "adult", *FAST, "--set", "data.options.rows=5"],
     "dataset 'adult' takes no option rows"),
    ("synthetic terms on too few fields", ["train", "--dataset", "synthetic", *FAST, "--set",
                                           "data.options={{n_rows: 500, n_categorical: 6}}"],
     "n_pairs 4 and n_triples 1 plant terms on 11 distinct categorical fields, but n_categorical is 6"),
    ("unknown schema option", ["train", "--train", "{root}/good.csv", "--schema", "{root}/bad_schema.yaml", *FAST],
     "field 'a': unknown option(s) 'bukets'"),
    ("bad number", train_files("bad_number"), "bad_number.csv, line 7, column 'a': expected a number (field 'a'), "
                                               "got 'five'"),
    ("ragged line", train_files("ragged"), "ragged.csv, line 9: expected 3 fields separated by ','"),
    ("single class", train_files("one_class"), "the label 'y' is 1 in all"),
    ("bad label", train_files("bad_label"), "bad_label.csv, line 5, column 'y': expected label 0 or 1"),
    ("empty file", train_files("empty"), "empty.csv, line 1: the file is empty"),
    ("duplicate header", ["schema", "--data", "{root}/dupe_header.csv", "--label", "y"],
     "dupe_header.csv, line 1: duplicate column name(s) ['a']"),
    ("wrong label column", ["train", "--train", "{root}/good.csv", "--label", "clicked", *FAST],
     "missing label column; the data has columns ['a', 'b', 'y']"),
    ("missing feature column", ["predict", "--run", "{run}", "--input", "{root}/no_feature.csv",
                                "--output", "{root}/o.csv"], "no_feature.csv, column 'a': missing column for field"),
    ("evaluate without label", ["evaluate", "--run", "{run}", "--data", "{root}/no_label.csv"],
     "no_label.csv, column 'y': missing label column"),
    ("not utf-8", train_files("latin1"), "latin1.csv, line 2: not valid utf-8 text (byte 0xe9"),
    ("unknown encoding", train_files("good", "--encoding", "klingon"), "unknown text encoding 'klingon'"),
    ("no header, no columns", train_files("good", "--no-header"), "--no-header needs --columns"),
    ("bad label map", train_files("good", "--label-map", "yes"), "--label-map: expected VALUE=TARGET pairs, got 'yes'"),
    ("unknown model", train_files("good", "--model", "deepfmm"), "model.name: unknown model 'deepfmm'"),
    ("set without value", train_files("good", "--set", "train.lr"), "--set expects KEY=VALUE, got 'train.lr'"),
    ("unknown model option", train_files("good", "--set", "model.dnn_units=[8]"),
     "unknown key model.dnn_units for model 'lr'"),
    ("device not here", train_files("good", "--device", "cuda:7"), "cuda"),
    ("out holds a run", train_files("good", "--out", "{run}"), "holds a run already"),
    ("resume changed config", train_files("good", "--out", "{run}", "--resume", "--embedding-dim", "9"),
     "--resume: the config differs"),
    ("dataset without files", ["train", "--dataset", "criteo", *FAST], "dataset 'criteo' needs your copy of its files"),
    ("not a prepared folder", ["train", "--data", "{root}", *FAST], "not a prepared data folder"),
    ("not a run", ["evaluate", "--run", "{root}", "--data", "{root}/good.csv"], "not a finished run"),
    ("unknown output format", ["predict", "--run", "{run}", "--input", "{root}/good.csv", "--output", "{root}/o.txt"],
     "o.txt: cannot tell the output format from '.txt'"),
    ("missing input", ["predict", "--run", "{run}", "--input", "{root}/nope.csv", "--output", "{root}/o.csv"],
     "nope.csv"),
    ("damaged weights", ["predict", "--run", "{damaged[model.safetensors]}", "--input", "{root}/good.csv",
                         "--output", "{root}/o.csv"], "model.safetensors: cannot read the weights file"),
    ("damaged processor", ["export", "--run", "{damaged[processor.json]}"],
     "processor.json: cannot read the processor file"),
    ("damaged config", ["evaluate", "--run", "{damaged[config.yaml]}", "--data", "{root}/good.csv"],
     "config.yaml: cannot read the run's config"),
    ("damaged trainer state", ["train", "--train", "{root}/good.csv", "--label", "y", "--numeric", "a",
                               "--categorical", "b", "--model", "lr", "--epochs", "2", "--batch-size", "256", *QUIET,
                               "--out", "{damaged[checkpoint/state.pt]}", "--resume"],
     "state.pt: cannot read the checkpoint's trainer state"),
    ("damaged encoded array", ["report", "--run", "{damaged[data/valid/cat.npy]}"],
     "cat.npy: cannot read the encoded array"),
    ("damaged metrics", ["report", "--run", "{damaged[metrics.json]}"], "metrics.json: cannot read the run's metrics"),
]


@pytest.mark.parametrize("args, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_mistake_is_a_message(world, capsys, args, message):
    before = snapshot(world["run"])
    args = [a.format(root=world["root"], run=world["run"], damaged=world["damaged"]) for a in args]
    try:
        rc = main(args)
    except SystemExit as exc:      # argparse's own usage errors
        rc = exc.code
    err = capsys.readouterr().err
    assert rc != 0
    assert "Traceback" not in err
    assert message in err, err
    assert snapshot(world["run"]) == before


def test_the_catalogue_is_large_and_real_processes_print_no_traceback(world):
    assert len(CASES) >= 30
    for name in ("batch size 0", "damaged weights", "not utf-8"):
        args = dict((c[0], c[1]) for c in CASES)[name]
        args = [a.format(root=world["root"], run=world["run"], damaged=world["damaged"]) for a in args]
        run = subprocess.run([sys.executable, "-m", "ctrkit", *args], capture_output=True, text=True)
        assert run.returncode == 2 and run.stderr.startswith("ctrkit: error: ") and "Traceback" not in run.stderr
