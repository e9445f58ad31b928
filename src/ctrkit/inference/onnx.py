"""ONNX export of a model, and prediction with ONNX Runtime.

The exported graph takes the processor's encoded arrays (``cat`` int32 [B, n_cat], ``num`` float32
[B, n_num], ``seq`` int32 [B, n_seq, L]; inputs a model does not read are left out of the graph) and
returns ``probability`` (binary) or ``prediction`` (regression), float32 [B]. Needs the ``onnx``
extra: ``pip install 'ctrkit[onnx]'``.

``int8`` graphs hold the weights of their matrix products (MLP layers, attention and interaction
projections) in int8, one scale per output column, and quantize those products' inputs to uint8 per
batch at run time (ONNX Runtime's dynamic quantization). Embedding tables stay float32; attention and
graph products multiply activations and stay float32. Opt-in: probabilities move a little for a
faster graph (the int8 tables of benchmarks/RESULTS.md).
"""
from __future__ import annotations

import copy
import io
import logging
import os
import tempfile
import warnings
from typing import Optional, Union

import numpy as np
import torch
from torch import nn

from ..data.batch import Batch
from ..io.store import EncodedArrays
from ..models.base import CTRModel
from .scoring import cpu_inference_rows

INPUTS = ("cat", "num", "seq")
OPSET = 17
_DTYPES = {"tensor(int32)": np.int32, "tensor(float)": np.float32}


class Scorer(nn.Module):
    """``model`` on the three input tensors, with the output link applied: sigmoid for binary."""

    def __init__(self, model: CTRModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, cat: torch.Tensor, num: torch.Tensor, seq: torch.Tensor) -> torch.Tensor:
        logits = self.model(Batch(cat, num, seq))
        return torch.sigmoid(logits) if self.model.task == "binary" else logits


def output_name(model: CTRModel) -> str:
    """The name of the model's output: ``probability`` (binary) or ``prediction`` (regression)."""
    return "probability" if model.task == "binary" else "prediction"


def export_onnx(model: CTRModel, path: Union[str, os.PathLike, io.BytesIO], int8: bool = False) -> None:
    """Write ``model`` as an ONNX graph (eval mode, float32, CPU) with a dynamic batch axis; the
    model itself stays in its mode and on its device.

    Args:
        model: the model.
        path: an .onnx path or a buffer.
        int8: int8 weights in the matrix products (module docstring).
    """
    if any(p.device.type != "cpu" for p in model.parameters()):
        model = copy.deepcopy(model).cpu()
    was_training = model.training
    model.eval()
    buffer = io.BytesIO() if int8 else path
    try:
        _export(model, buffer)
    finally:
        model.train(was_training)
    if int8:
        graph = quantize_int8(buffer.getvalue())
        if isinstance(path, io.BytesIO):
            path.write(graph)
        else:
            with open(path, "wb") as f:
                f.write(graph)


def quantize_int8(graph: bytes) -> bytes:
    """``graph`` with int8 weights in its MatMul and Gemm nodes whose second input is constant (one
    scale per output column), and uint8 inputs quantized per batch at run time."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    muted = logging.root.manager.disable
    logging.disable(logging.WARNING)     # its advice to run shape inference first: nothing here needs it
    try:
        with tempfile.TemporaryDirectory() as folder:
            out = os.path.join(folder, "int8.onnx")
            quantize_dynamic(onnx.load_from_string(graph), out, op_types_to_quantize=["MatMul", "Gemm"],
                             per_channel=True, weight_type=QuantType.QInt8, reduce_range=not has_vnni(),
                             extra_options={"MatMulConstBOnly": True})
            with open(out, "rb") as f:
                return f.read()
    finally:
        logging.disable(muted)


def has_vnni() -> bool:
    """Whether this CPU multiplies int8 with VNNI (AVX-512 VNNI or AVX-VNNI). Without it, ONNX
    Runtime's uint8 × int8 kernels add pairs of products in 16 bits, which saturate for 8-bit
    weights: weights quantized to 7 bits (``reduce_range``) keep the sums in range."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def _export(model: CTRModel, path: Union[str, os.PathLike, io.BytesIO]) -> None:
    fmap = model.feature_map
    seq = fmap.of_type("sequence")
    example = (torch.zeros(2, len(fmap.of_type("categorical")), dtype=torch.int32),
               torch.zeros(2, len(fmap.of_type("numeric"))),
               torch.zeros(2, len(seq), max((s.max_len for s in seq), default=0), dtype=torch.int32))
    dynamic = {name: {0: "batch"} for name in (*INPUTS, output_name(model))}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")        # tracer notes on shape arithmetic, legacy-exporter notice
        torch.onnx.export(Scorer(model), example, path, input_names=list(INPUTS), output_names=[output_name(model)],
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)


class OnnxPredictor:
    """An ONNX Runtime session over an exported model. ``predict`` is safe to call from many threads.

    Args:
        source: an .onnx file or its bytes.
        batch_size: rows per session run.
        threads: ONNX Runtime's intra-op threads (default: torch's thread count).

    Shapes:
        ``predict(encoded rows [N])`` → float64 [N].
    """

    def __init__(self, source: Union[str, os.PathLike, bytes], batch_size: int = 2048,
                 threads: Optional[int] = None) -> None:
        ort = _onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(source if isinstance(source, bytes) else os.fspath(source), options,
                                            providers=["CPUExecutionProvider"])
        inputs = self.session.get_inputs()
        self.inputs = [i.name for i in inputs]
        self.batch_size = batch_size
        # one batch of padding rows, so that the first real call does not pay for the memory arena
        self.session.run(None, {i.name: np.zeros([batch_size, *i.shape[1:]], _DTYPES[i.type]) for i in inputs})

    @classmethod
    def from_model(cls, model: CTRModel, threads: Optional[int] = None, int8: bool = False) -> "OnnxPredictor":
        """Export ``model`` in memory (``int8``: with int8 weights) and open a session on it, with
        batches of its CPU inference rows (at least 2,048: smaller ones ran slower in ONNX Runtime)."""
        buffer = io.BytesIO()
        export_onnx(model, buffer, int8)
        return cls(buffer.getvalue(), min(16384, max(2048, cpu_inference_rows(model))), threads)

    def predict(self, data: EncodedArrays, batch_size: Optional[int] = None) -> np.ndarray:
        size = batch_size or self.batch_size
        arrays = {"cat": data.cat, "num": data.num, "seq": data.seq}
        parts = [self.session.run(None, {name: np.ascontiguousarray(arrays[name][start:start + size])
                                         for name in self.inputs})[0]
                 for start in range(0, len(data), size)]
        return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)


def onnx_available() -> bool:
    try:
        _onnxruntime()
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError("ONNX export and prediction need onnxruntime and onnx: pip install 'ctrkit[onnx]'") from exc
    return onnxruntime
