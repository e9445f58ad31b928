"""DeepCTR-Torch side of benchmarks/compare.py, following its README's input path
(pandas, LabelEncoder for sparse fields, MinMaxScaler for dense ones)."""
from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_util import AFM_ATTENTION, AUTOINT, BINS, CIN, CROSS_LAYERS, DCN_MIX, DIN, EMBED_DIM, LR, MLP, Timer, fit_peer, report, runner_args, scores, timed_predictions, warm_up_torch  # noqa: E402


def preprocess(train_path: str, valid_path: str, numeric, categorical, sequence, binned: bool = False):
    """The README's path; ``binned`` first cuts each numeric column into BINS quantile bins of the
    training rows (missing: a bin of its own) and makes it one more sparse field, as ctrkit's runs see
    them: the same tie-aware cuts (ctrkit's ``quantile_edges``, taken from the source file, numpy only;
    ctrkit cuts log-scaled values of a 200k-row sample, the log being monotone)."""
    from sklearn.preprocessing import LabelEncoder, MinMaxScaler
    quantile_edges = ctrkit_quantile_edges()
    text = {c: str for c in [*categorical, *sequence]}   # codes as written ('021' stays '021')
    train, valid = pd.read_csv(train_path, dtype=text), pd.read_csv(valid_path, dtype=text)
    n_train = len(train)
    data = pd.concat([train, valid], ignore_index=True)
    shared = {owner for owner in sequence.values() if owner}
    sequences = sequence_codes(data, sequence)
    if binned:
        for c in numeric:
            values = train[c].to_numpy(dtype=float)
            edges = np.asarray(quantile_edges(values[~np.isnan(values)], BINS))
            data[c] = np.where(data[c].isna(), -1, np.searchsorted(edges, data[c].to_numpy(dtype=float), side="right"))
        categorical, numeric = categorical + numeric, []
    data[categorical] = data[categorical].fillna("-1")
    data[numeric] = data[numeric].fillna(0)
    for c in categorical:
        if c not in shared:
            data[c] = LabelEncoder().fit_transform(data[c])
    if numeric:
        data[numeric] = MinMaxScaler(feature_range=(0, 1)).fit_transform(data[numeric])
    return data.iloc[:n_train], data.iloc[n_train:], data, numeric, categorical, sequences


def sequence_codes(data: pd.DataFrame, sequence) -> dict:
    """Each '|'-separated ``sequence`` field as DeepCTR-Torch's DIN example feeds it: codes from 1 in
    an array padded with 0 after the items, and the items' count; a field sharing another's table
    (``sequence[f]`` = that field) codes its items and that field's values with one vocabulary
    (``data``'s column recoded in place). Returns name → (codes [rows, max length], lengths,
    vocabulary size with the padding, owner or None)."""
    out = {}
    for field, owner in sequence.items():
        items = data[field].fillna("").str.split("|").map(lambda row: [t for t in row if t])
        lengths = items.map(len).to_numpy()
        flat = pd.Series([t for row in items for t in row], dtype=object)
        vocabulary = pd.Index(pd.unique(pd.concat([data[owner], flat]) if owner else flat))
        codes = np.zeros((len(data), max(lengths.max(), 1)), dtype=np.int64)
        rows = np.repeat(np.arange(len(data)), lengths)
        columns = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        codes[rows, columns] = vocabulary.get_indexer(flat) + 1
        if owner:
            data[owner] = vocabulary.get_indexer(data[owner]) + 1
        out[field] = (codes, lengths, len(vocabulary) + 1, owner)
    return out


def ctrkit_quantile_edges():
    """ctrkit's ``quantile_edges`` from its source file (this virtualenv does not install ctrkit)."""
    import importlib.util
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "src", "ctrkit", "features", "numeric_stats.py")
    spec = importlib.util.spec_from_file_location("ctrkit_numeric_stats", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.quantile_edges


def input_name(field: str, owner) -> str:
    """DeepCTR-Torch's name of a sequence field: a behaviour sequence of field A must be 'hist_A'."""
    return f"hist_{owner}" if owner else field


def build(name: str, data: pd.DataFrame, numeric, categorical, sequences):
    from deepctr_torch.inputs import DenseFeat, SparseFeat, VarLenSparseFeat
    from deepctr_torch.models import AFM, DCN, DCNMix, DeepFM, AutoInt, DIN as DeepInterest, FiBiNET, NFM, PNN, WDL, xDeepFM
    size = {owner: vocabulary for _, _, vocabulary, owner in sequences.values() if owner}
    sparse = [SparseFeat(c, size.get(c, data[c].nunique()), embedding_dim=EMBED_DIM) for c in categorical]
    dense = [DenseFeat(c, 1) for c in numeric]
    columns = sparse + dense
    reg = dict(l2_reg_linear=0, l2_reg_embedding=0)
    if name == "din":     # the behaviour sequence masked by its length; other sequences mean-pooled over non-0
        varlen = [VarLenSparseFeat(SparseFeat(input_name(f, owner), vocabulary, embedding_dim=EMBED_DIM,
                                              embedding_name=owner or f), maxlen=codes.shape[1], combiner="mean",
                                   length_name=f"{f}_length" if owner else None)
                  for f, (codes, _, vocabulary, owner) in sequences.items()]
        behaviours = [owner for _, _, _, owner in sequences.values() if owner]
        return DeepInterest(columns + varlen, behaviours, dnn_hidden_units=MLP, att_hidden_size=DIN["attention"],
                            att_activation="dice", l2_reg_embedding=0), columns + varlen
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
    dnn = dict(dnn_hidden_units=MLP, l2_reg_dnn=0)
    cross = dict(cross_num=CROSS_LAYERS, l2_reg_cross=0)
    second_wave = {   # each at the structure of ctrkit's run_ctrkit.OPTIONS
        "widedeep": lambda: WDL(columns, columns, **dnn, **reg),
        "pnn": lambda: PNN(columns, use_inner=True, use_outter=False, **dnn, l2_reg_embedding=0),
        "nfm": lambda: NFM(columns, columns, **dnn, **reg),
        "dcn": lambda: DCN(columns, columns, cross_parameterization="vector", **cross, **dnn, **reg),
        "dcnv2": lambda: DCNMix(columns, columns, low_rank=DCN_MIX["low_rank"], num_experts=DCN_MIX["experts"],
                                **cross, **dnn, **reg),
        "xdeepfm": lambda: xDeepFM(columns, columns, cin_layer_size=CIN, cin_split_half=True,
                                   cin_activation="linear", l2_reg_cin=0, **dnn, **reg),
        "fibinet": lambda: FiBiNET(columns, columns, bilinear_type="interaction", reduction_ratio=3, **dnn, **reg),
    }
    if name in second_wave:
        return second_wave[name](), columns
    raise SystemExit(f"deepctr-torch has no {name}")


def main() -> None:
    args = runner_args("--binned-numeric")   # numeric fields as quantile-bin sparse fields (equal-work rows)
    torch.manual_seed(0)
    timer = Timer()
    with timer("preprocess"):
        train, valid, data, numeric, categorical, sequences = preprocess(
            args.train, args.valid, args.numeric, args.categorical, args.sequence, args.binned_numeric)
    model, columns = build(args.model, data, numeric, categorical, sequences)
    model.compile(torch.optim.Adam(model.parameters(), lr=LR), "binary_crossentropy")
    inputs = {c.name: data[c.name].values for c in columns if c.name in data and c.name not in sequences}
    for field, (codes, lengths, _, owner) in sequences.items():
        inputs[input_name(field, owner)] = codes
        if owner:
            inputs[f"{field}_length"] = lengths
    x_train = {n: v[:len(train)] for n, v in inputs.items()}
    x_valid = {n: v[len(train):] for n, v in inputs.items()}
    y_valid = valid["label"].values

    def train_epoch() -> None:
        model.fit(x_train, train["label"].values, batch_size=args.batch_size, epochs=1, verbose=0)

    def predict():
        return np.asarray(model.predict(x_valid, batch_size=args.batch_size * 4)).ravel()

    warm_up_torch()
    aucs = fit_peer(model, train_epoch, lambda: scores(y_valid, predict())["auc"], args, timer)
    epochs = len(aucs) or args.epochs
    p, timer.seconds["predict"], calls = timed_predictions(predict)
    report({"library": "deepctr-torch" + ("+binned" if args.binned_numeric else ""), "model": args.model, "rows": len(train), "valid_rows": len(valid),
            "epochs": epochs, **timer.seconds, "train_samples_per_second": len(train) * epochs / timer.seconds["train"],
            "predict_samples_per_second": len(valid) / timer.seconds["predict"], "predict_calls": calls,
            **scores(y_valid, p)})


if __name__ == "__main__":
    main()
