import pytest
import torch
import yaml

from ctrkit.config import ConfigError, load_config


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return str(path)


def test_file_flags_and_set_layer_in_order(tmp_path):
    path = write(tmp_path, "data: {dataset: adult}\nmodel: {name: deepfm, dnn_units: [64, 32]}\ntrain: {epochs: 3}\n")
    cfg = load_config(path, ["train.lr=0.01", "model.dnn_dropout=0.2", "data.options={n_rows: 5}"],
                      **{"train.epochs": 7, "seed": 3})
    assert cfg["train"]["epochs"] == 7 and cfg["train"]["lr"] == 0.01 and cfg["seed"] == 3
    assert cfg["model"] == {"name": "deepfm", "dnn_units": [64, 32], "dnn_dropout": 0.2}
    assert cfg["data"]["options"] == {"n_rows": 5}
    assert cfg["train"]["batch_size"] == 1024       # defaults kept


@pytest.mark.parametrize("text, message", [
    ("data: {dataset: adult}\nmodel: {name: fm}\ntrain: {epoch: 3}\n", r"unknown key train.epoch; valid keys:"),
    ("data: {dataset: adult}\nmodel: {name: fm}\ntrain: {epochs: three}\n", r"train.epochs: expected int, got str 'three'"),
    ("data: {dataset: adult}\nmodel: {name: fm}\ntrain: {lr: [1]}\n", r"train.lr: expected float, got list"),
    ("data: {dataset: adult}\nmodel: {name: fm, dnn_units: [8]}\n", r"unknown key model.dnn_units for model 'fm'"),
    ("data: {dataset: adult}\nmodel: {name: deepfm, dnn_units: 8}\n", r"model.dnn_units: expected a list"),
    ("data: {dataset: adult}\nmodel: {name: gbdt}\n", r"model.name: unknown model 'gbdt'"),
    ("data: {dataset: adult}\n", r"model.name is required"),
    ("model: {name: fm}\n", r"give data.dataset"),
    ("data: {dataset: adult, lable: y}\nmodel: {name: fm}\n", r"unknown key data.lable"),
    ("data: {dataset: adult}\nmodel: {name: fm}\npretrain: fm\n", r"pretrain applies to model fnn"),
    ("data: {dataset: adult}\nmodel: {name: fm}\ntrain: {progress: 1}\n", r"train.progress: expected true or false"),
    ("- a\n- b\n", r"expected a mapping at the top level"),
    ("data: {dataset: adult}\nmodel: {name: fm}\ntrain: {device: gpu}\n",
     r"train.device 'gpu': expected model, auto, cpu, cuda or cuda:N"),
])
def test_errors_name_the_key_and_expected_type(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_pretrain_shorthand_and_set_errors(tmp_path):
    path = write(tmp_path, "data: {dataset: adult}\nmodel: {name: fnn}\npretrain: fm\n")
    cfg = load_config(path, ["pretrain.epochs=2"])
    assert cfg["pretrain"] == {"model": "fm", "epochs": 2, "freeze": False}
    with pytest.raises(ConfigError, match="expects KEY=VALUE"):
        load_config(path, ["train.lr"])
    with pytest.raises(ConfigError, match=r"'seed' is not a section"):
        load_config(path, ["seed.x=1"])


def test_shipped_configs_are_valid():
    import glob
    paths = sorted(glob.glob("configs/*.yaml"))
    assert len(paths) >= 20
    for path in paths:
        cfg = load_config(path)
        assert cfg["model"]["name"] and yaml.safe_load(open(path))["out"].startswith("runs/")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_device_without_cuda_says_so(tmp_path):
    path = write(tmp_path, "data: {dataset: adult}\nmodel: {name: fm}\ntrain: {device: 'cuda:1'}\n")
    with pytest.raises(ConfigError, match=r"train.device 'cuda:1': CUDA is not available here .*use 'cpu' or 'auto'"):
        load_config(path)
    assert load_config(path, ["train.device=auto"])["train"]["device"] == "auto"


def test_switching_the_model_drops_the_templates_other_options(capsys):
    config = load_config("configs/adult_deepfm.yaml", ["model.name=fignn"])
    assert config["model"]["name"] == "fignn" and "dnn_units" not in config["model"]
    note = ("note: model 'fignn' does not take model.dnn_units, model.dnn_dropout, model.batch_norm (options of the "
            "config's 'deepfm'): dropped")
    assert note in capsys.readouterr().err
    # options the new model takes too carry over, said by name (AutoInt with the template's MLP is AutoInt+)
    autoint = load_config("configs/adult_deepfm.yaml", ["model.name=autoint"])
    assert autoint["model"]["dnn_units"] == [256, 128]
    assert ("note: model 'autoint' keeps model.dnn_units=[256, 128], model.dnn_dropout=0.36 from the config's "
            "'deepfm' (--set model.KEY=null gives autoint's default)") in capsys.readouterr().err
    kept = load_config("configs/adult_deepfm.yaml", ["model.dnn_units=null"])
    assert "dnn_units" not in kept["model"] and kept["model"]["name"] == "deepfm"   # null: the model's default
    with pytest.raises(ConfigError, match="unknown key model.dnn_units for model 'fignn'"):
        load_config("configs/adult_deepfm.yaml", ["model.name=fignn", "model.dnn_units=[8]"])   # set by hand: kept


def test_templates_point_at_the_files_given_on_the_command_line():
    for path, flags in (("configs/criteo_deepfm.yaml", {"data.train": "t.txt"}),
                        ("configs/frappe_afm.yaml", {"data.options.path": "f/"})):
        config = load_config(path, **flags)
        assert "PATH" not in str(config["data"])
    assert load_config("configs/criteo_deepfm.yaml", **{"data.options.path": "x"})["data"]["options"] == \
        {"min_count": 10, "path": "x"}                  # --path adds to the template's options
