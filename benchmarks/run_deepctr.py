"""DeepCTR-Torch side of benchmarks/compare.py, following its README's input path
(pandas, LabelEncoder for sparse fields, MinMaxScaler for dense ones)."""
from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_util import AFM_ATTENTION, AUTOINT, CATEGORICAL, EMBED_DIM, LR, MLP, NUMERIC, Timer, report, runner_args, scores, warm_up_torch  # noqa: E402


def preprocess(train_path: str, valid_path: str):
    from sklearn.preprocessing import LabelEncoder, MinMaxScaler
    train, valid = pd.read_csv(train_path), pd.read_csv(valid_path)
    n_train = len(train)
    data = pd.concat([train, valid], ignore_index=True)
    data[CATEGORICAL] = data[CATEGORICAL].fillna("-1")
    data[NUMERIC] = data[NUMERIC].fillna(0)
    for c in CATEGORICAL:
        data[c] = LabelEncoder().fit_transform(data[c])
    data[NUMERIC] = MinMaxScaler(feature_range=(0, 1)).fit_transform(data[NUMERIC])
    return data.iloc[:n_train], data.iloc[n_train:], data


def build(name: str, data: pd.DataFrame):
    from deepctr_torch.inputs import DenseFeat, SparseFeat
    from deepctr_torch.models import AFM, DeepFM, AutoInt
    sparse = [SparseFeat(c, data[c].nunique(), embedding_dim=EMBED_DIM) for c in CATEGORICAL]
    dense = [DenseFeat(c, 1) for c in NUMERIC]
    columns = sparse + dense
    reg = dict(l2_reg_linear=0, l2_reg_embedding=0)
    if name == "lr":      # DeepFM without FM and DNN is the linear part alone
        return DeepFM(columns, columns, use_fm=False, dnn_hidden_units=(), **reg), columns
    if name == "fm":
        return DeepFM(columns, columns, use_fm=True, dnn_hidden_units=(), **reg), columns
    if name == "deepfm":
        return DeepFM(columns, columns, dnn_hidden_units=MLP, **reg), columns
    if name == "afm":    # AFM takes sparse fields only
        return AFM(sparse, sparse, attention_factor=AFM_ATTENTION, l2_reg_embedding=0, l2_reg_att=0), sparse
    if name in ("autoint", "autoint+"):
        dnn = MLP if name == "autoint+" else ()
        # deepctr-torch 0.3.0 fixes the attention width to the embedding size (2 heads x 8 here),
        # a quarter of the paper's 32 per head that ctrkit and pytorch-fm use
        return AutoInt(columns, columns, att_layer_num=AUTOINT["layers"], att_head_num=AUTOINT["heads"],
                       att_res=True, dnn_hidden_units=dnn, l2_reg_embedding=0, l2_reg_dnn=0), columns
    raise SystemExit(f"deepctr-torch has no {name}")


def main() -> None:
    args = runner_args()
    torch.manual_seed(0)
    timer = Timer()
    with timer("preprocess"):
        train, valid, data = preprocess(args.train, args.valid)
    model, columns = build(args.model, data)
    names = [c.name for c in columns]
    model.compile(torch.optim.Adam(model.parameters(), lr=LR), "binary_crossentropy")
    x_train = {n: train[n].values for n in names}
    x_valid = {n: valid[n].values for n in names}
    warm_up_torch()
    with timer("train"):
        model.fit(x_train, train["label"].values, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
    with timer("predict"):
        p = model.predict(x_valid, batch_size=args.batch_size * 4)
    report({"library": "deepctr-torch", "model": args.model, "rows": len(train), "valid_rows": len(valid),
            **timer.seconds, "train_samples_per_second": len(train) * args.epochs / timer.seconds["train"],
            "predict_samples_per_second": len(valid) / timer.seconds["predict"],
            **scores(valid["label"].values, np.asarray(p).ravel())})


if __name__ == "__main__":
    main()
