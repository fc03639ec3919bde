"""Test-only reference runtime: a float tflite model evaluated in numpy, operator by operator.

The flatbuffer is parsed with the pure-Python ``tflite`` package (schema bindings only, pinned in the
``test`` extra); the maths is :mod:`tf_numpy_ops`. It reads graph and weights straight from the
``.tflite`` file and shares no code with the PyTorch port or its TFJS converter, so agreement is
evidence that the port is right. Tensors are NHWC float64.

Supported builtin operators: CONV_2D, DEPTHWISE_CONV_2D, ADD, SUB, MUL (with fused NONE/RELU/RELU6),
RELU, ABS, RESHAPE. A model whose input has a fixed batch (MobileFaceNet.tflite is fixed at 2) runs at
any batch: RESHAPE targets keep the leading dimension of their input.

Cross-checked once against ``tflite-runtime==2.14.0`` (throwaway numpy<2 venv, not a dependency) on
MobileFaceNet.tflite with six aligned LFW faces: cosine >= 0.99999994 per face, max abs difference
3.6e-5 on outputs of magnitude up to 36.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import tflite
from tf_numpy_ops import conv2d, depthwise_conv2d

_OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_PADDING = {tflite.Padding.SAME: "SAME", tflite.Padding.VALID: "VALID"}
_ACTIVATIONS: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    tflite.ActivationFunctionType.NONE: lambda x: x,
    tflite.ActivationFunctionType.RELU: lambda x: np.maximum(x, 0.0),
    tflite.ActivationFunctionType.RELU6: lambda x: np.clip(x, 0.0, 6.0),
}
_NUMPY_DTYPES = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.INT32: np.int32}


def _options(op: tflite.Operator, cls: type) -> object:
    table = op.BuiltinOptions()
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    return opts


class TfliteReference:
    """A float tflite model with one subgraph, evaluated in numpy.

    Args:
        path: the ``.tflite`` file.
    """

    def __init__(self, path: str | Path) -> None:
        self._buf = Path(path).read_bytes()
        self.model = tflite.Model.GetRootAs(self._buf, 0)
        if self.model.SubgraphsLength() != 1:
            raise NotImplementedError("only single-subgraph models are supported")
        self.graph = self.model.Subgraphs(0)
        self.constants = self._read_constants()

    def _read_constants(self) -> dict[int, np.ndarray]:
        consts = {}
        for i in range(self.graph.TensorsLength()):
            tensor = self.graph.Tensors(i)
            buffer = self.model.Buffers(tensor.Buffer())
            if buffer.DataLength() == 0:
                continue
            if tensor.Type() not in _NUMPY_DTYPES or tensor.Quantization() and tensor.Quantization().ScaleLength():
                raise NotImplementedError(f"tensor {tensor.Name()!r}: only float32/int32 unquantized constants")
            shape = tuple(tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
            raw = buffer.DataAsNumpy().tobytes()
            consts[i] = np.frombuffer(raw, np.dtype(_NUMPY_DTYPES[tensor.Type()]).newbyteorder("<")).reshape(shape)
        return consts

    def op_names(self) -> list[str]:
        """Builtin operator names of the graph, in execution order."""
        names = []
        for k in range(self.graph.OperatorsLength()):
            code = self.model.OperatorCodes(self.graph.Operators(k).OpcodeIndex())
            names.append(_OP_NAMES[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())])
        return names

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Run the graph on ``x`` (NHWC, already normalised as the model expects); return output 0."""
        values: dict[int, np.ndarray] = dict(self.constants)
        values[int(self.graph.Inputs(0))] = np.asarray(x, np.float64)
        for k, name in enumerate(self.op_names()):
            op = self.graph.Operators(k)
            args = [values[int(i)] for i in op.InputsAsNumpy() if i >= 0]
            values[int(op.Outputs(0))] = self._run(name, op, args)
        return values[int(self.graph.Outputs(0))]

    def _run(self, name: str, op: tflite.Operator, args: list[np.ndarray]) -> np.ndarray:
        if name == "CONV_2D":
            o = _options(op, tflite.Conv2DOptions)
            if (o.DilationHFactor(), o.DilationWFactor()) != (1, 1):
                raise NotImplementedError("dilated CONV_2D")
            w_hwio = args[1].transpose(1, 2, 3, 0)  # tflite filter is (out, kh, kw, in)
            y = conv2d(args[0], w_hwio, (o.StrideH(), o.StrideW()), _PADDING[o.Padding()]) + args[2]
            return _ACTIVATIONS[o.FusedActivationFunction()](y)
        if name == "DEPTHWISE_CONV_2D":
            o = _options(op, tflite.DepthwiseConv2DOptions)
            c = args[0].shape[-1]
            w = args[1][0].reshape(*args[1].shape[1:3], c, -1)  # (1, kh, kw, C*M) -> (kh, kw, C, M)
            y = depthwise_conv2d(args[0], w, (o.StrideH(), o.StrideW()), _PADDING[o.Padding()]) + args[2]
            return _ACTIVATIONS[o.FusedActivationFunction()](y)
        if name in ("ADD", "SUB", "MUL"):
            cls = {"ADD": tflite.AddOptions, "SUB": tflite.SubOptions, "MUL": tflite.MulOptions}[name]
            fn = {"ADD": np.add, "SUB": np.subtract, "MUL": np.multiply}[name]
            return _ACTIVATIONS[_options(op, cls).FusedActivationFunction()](fn(args[0], args[1]))
        if name == "RELU":
            return np.maximum(args[0], 0.0)
        if name == "ABS":
            return np.abs(args[0])
        if name == "RESHAPE":
            shape = list(args[1]) if len(args) > 1 else list(_options(op, tflite.ReshapeOptions).NewShapeAsNumpy())
            return args[0].reshape(args[0].shape[0], *shape[1:])
        raise NotImplementedError(f"tflite operator {name}")
