"""pytorch-fm (torchfm) side of benchmarks/compare.py. pytorch-fm takes categorical fields only:
numeric counts are discretised as its own Criteo dataset does (int(log(x)²) above 2), then every
field is label-encoded with pandas; training is the loop of its examples/main.py."""
from __future__ import annotations

import os
import sys

import numpy as np

np.long = np.int64  # pytorch-fm still uses np.long, removed from NumPy 1.24+
import pandas as pd  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_util import AFM_ATTENTION, AUTOINT, EMBED_DIM, LR, MLP, Timer, fit_peer, report, runner_args, scores, timed_predictions, warm_up_torch  # noqa: E402


def preprocess(train_path: str, valid_path: str, numeric, categorical):
    train, valid = pd.read_csv(train_path), pd.read_csv(valid_path)
    n_train = len(train)
    data = pd.concat([train, valid], ignore_index=True)
    for c in numeric:
        v = data[c].fillna(-10)
        data[c] = np.where(v > 2, np.floor(np.log(v.clip(lower=1)) ** 2), v).astype(np.int64).astype(str)
    codes = np.stack([pd.factorize(data[c].fillna("<na>"))[0] for c in numeric + categorical], axis=1)
    field_dims = codes.max(axis=0) + 1
    label = data["label"].values.astype(np.float32)
    return codes[:n_train], label[:n_train], codes[n_train:], label[n_train:], field_dims


def build(name: str, field_dims):
    from torchfm.model.afi import AutomaticFeatureInteractionModel
    from torchfm.model.afm import AttentionalFactorizationMachineModel
    from torchfm.model.dfm import DeepFactorizationMachineModel
    from torchfm.model.fm import FactorizationMachineModel
    from torchfm.model.fnn import FactorizationSupportedNeuralNetworkModel
    from torchfm.model.lr import LogisticRegressionModel
    if name == "lr":
        return LogisticRegressionModel(field_dims)
    if name == "fm":
        return FactorizationMachineModel(field_dims, EMBED_DIM)
    if name == "fnn":
        return FactorizationSupportedNeuralNetworkModel(field_dims, EMBED_DIM, MLP, dropout=0.0)
    if name == "deepfm":
        return DeepFactorizationMachineModel(field_dims, EMBED_DIM, MLP, dropout=0.0)
    if name == "afm":
        return AttentionalFactorizationMachineModel(field_dims, EMBED_DIM, AFM_ATTENTION, dropouts=(0.0, 0.0))
    if name == "autoint+":
        # its attention width is split across heads: heads × per-head size to match the others
        width = AUTOINT["dim"] * AUTOINT["heads"]
        return AutomaticFeatureInteractionModel(field_dims, EMBED_DIM, width, AUTOINT["heads"], AUTOINT["layers"],
                                                MLP, dropouts=(0.0, 0.0))
    raise SystemExit(f"pytorch-fm has no {name}")


def main() -> None:
    args = runner_args()
    torch.manual_seed(0)
    timer = Timer()
    with timer("preprocess"):
        x_train, y_train, x_valid, y_valid, field_dims = preprocess(args.train, args.valid, args.numeric,
                                                                     args.categorical)
    model = build(args.model, field_dims)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.BCELoss()
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train))
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True)

    def train_epoch() -> None:
        model.train()
        for x, y in loader:
            loss = loss_fn(model(x), y)
            model.zero_grad()
            loss.backward()
            optimizer.step()

    def predict():
        model.eval()
        with torch.no_grad():
            return torch.cat([model(x) for x in torch.from_numpy(x_valid).split(args.batch_size * 4)]).numpy()

    warm_up_torch()
    aucs = fit_peer(model, train_epoch, lambda: scores(y_valid, predict())["auc"], args, timer)
    epochs = len(aucs) or args.epochs
    p, timer.seconds["predict"], calls = timed_predictions(predict)
    report({"library": "pytorch-fm", "model": args.model, "rows": len(x_train), "valid_rows": len(x_valid),
            "epochs": epochs, **timer.seconds, "train_samples_per_second": len(x_train) * epochs / timer.seconds["train"],
            "predict_samples_per_second": len(x_valid) / timer.seconds["predict"], "predict_calls": calls, **scores(y_valid, p)})


if __name__ == "__main__":
    main()
