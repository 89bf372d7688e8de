"""What is inside a .tflite file, read from its flatbuffer with LiteRT's own schema module.

Size, gzip size, sha256, input/output tensors (dtype, shape, quantization), operator counts by type
and how many tensors carry sparse encoding. Reads bytes only; LiteRT's interpreter is not needed.
"""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

from harness.digests import sha256_bytes
from harness.paths import cache_dir

FILE_IDENTIFIER = b"TFL3"
# Under cache_dir(): an empty file per sha256 of contents LiteRT's verifier accepted.
VERIFIED_DIR = "verified-tflite"
# Fixed mtime: the same model always gzips to the same size.
_GZIP_LEVEL = 9


def has_tflite_identifier(data: bytes) -> bool:
    return len(data) >= 8 and data[4:8] == FILE_IDENTIFIER


def verify_tflite_file(path: Path) -> str:
    """Refuse, before anything is pushed, a file that is not a complete TFLite flatbuffer
    (another format, truncated, corrupt), with LiteRT's own flatbuffer verifier; returns the
    file's sha256. Operators are not checked: the device's runner may have ones this host's LiteRT
    lacks, and says so if not. Contents that passed once are remembered by their digest (the
    verifier's answer depends on the bytes alone): a quick bench then spares LiteRT's and numpy's
    imports, 60 ms."""
    from harness.errors import InputError

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot be read ({e.strerror})", "check the path and its permissions") from None
    if not has_tflite_identifier(data):
        raise InputError(
            f"{path} is not a TFLite model (no TFL3 identifier)",
            "give a .tflite file; 'squeezebench convert MODEL' makes them from Keras and SavedModel",
        )
    digest = sha256_bytes(data)
    marker = _verified_marker(digest)
    if marker.exists():
        return digest
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        # Building the interpreter runs the verifier; tensors are not allocated, no op is prepared.
        Interpreter(model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    except ValueError as e:
        if "not a valid Flatbuffer" in str(e):
            raise InputError(
                f"{path} is truncated or corrupt (LiteRT's flatbuffer verifier rejects it)",
                "copy or convert the model again",
            ) from None
    _remember_verified(marker)
    return digest


def _verified_marker(digest: str) -> Path:
    return cache_dir() / VERIFIED_DIR / digest


def _remember_verified(marker: Path) -> None:
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass  # a read-only cache: the next bench verifies again


def gzip_size_bytes(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=_GZIP_LEVEL, mtime=0))


def inspect_tflite(data: bytes) -> dict:
    """Facts about a TFLite flatbuffer; the caller has checked that LiteRT accepts it."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    inputs, outputs = _io_tensors(model)
    return {
        "size_bytes": len(data),
        "gzip_size_bytes": gzip_size_bytes(data),
        "sha256": sha256_bytes(data),
        "inputs": inputs,
        "outputs": outputs,
        "op_counts": _op_counts(model, _enum_names(schema.BuiltinOperator)),
        "sparse_tensor_count": _sparse_tensor_count(model),
    }


def io_tensors(data: bytes) -> tuple[list[dict], list[dict]]:
    """The main subgraph's input and output tensors (name, dtype, shape...), and nothing else:
    no gzip or hash over the whole file."""
    from ai_edge_litert import schema_py_generated as schema

    return _io_tensors(schema.Model.GetRootAs(data, 0))


def _io_tensors(model) -> tuple[list[dict], list[dict]]:
    from ai_edge_litert import schema_py_generated as schema

    type_names = _enum_names(schema.TensorType)
    main = model.Subgraphs(0)
    inputs = [_tensor_facts(main.Tensors(main.Inputs(i)), type_names) for i in range(main.InputsLength())]
    outputs = [_tensor_facts(main.Tensors(main.Outputs(i)), type_names) for i in range(main.OutputsLength())]
    return inputs, outputs


def _enum_names(enum_class) -> dict[int, str]:
    return {v: k for k, v in vars(enum_class).items() if not k.startswith("_") and isinstance(v, int)}


def _op_counts(model, names: dict[int, str]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            code = model.OperatorCodes(subgraph.Operators(o).OpcodeIndex())
            counts[_op_name(code, names)] += 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _op_name(code, names: dict[int, str]) -> str:
    # Codes below 127 live in the deprecated int8 field; newer ones in builtin_code.
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    name = names.get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM":
        custom = code.CustomCode()
        return f"CUSTOM:{custom.decode() if custom else '?'}"
    return name


def _sparse_tensor_count(model) -> int:
    return sum(
        1
        for s in range(model.SubgraphsLength())
        for t in range(model.Subgraphs(s).TensorsLength())
        if model.Subgraphs(s).Tensors(t).Sparsity() is not None
    )


def _tensor_facts(tensor, type_names: dict[int, str]) -> dict:
    shape = [int(d) for d in tensor.ShapeAsNumpy()] if not tensor.ShapeIsNone() else []
    signature = [int(d) for d in tensor.ShapeSignatureAsNumpy()] if not tensor.ShapeSignatureIsNone() else shape
    return {
        "name": (tensor.Name() or b"").decode(),
        "dtype": type_names.get(tensor.Type(), str(tensor.Type())).lower(),
        "shape": shape,
        "shape_signature": signature,
        "quantization": _quantization(tensor.Quantization()),
    }


def _quantization(params) -> dict | None:
    if params is None or params.ScaleIsNone() or params.ScaleLength() == 0:
        return None
    scales = [float(s) for s in params.ScaleAsNumpy()]
    zero_points = [int(z) for z in params.ZeroPointAsNumpy()] if not params.ZeroPointIsNone() else [0] * len(scales)
    if len(scales) == 1:
        return {"scale": scales[0], "zero_point": zero_points[0]}
    return {"scale": scales, "zero_point": zero_points, "axis": int(params.QuantizedDimension())}


# XNNPACK's sparse inference (LiteRT's XNNPACK delegate README, "Sparse Inference", after the Fast
# Sparse ConvNets paper): a float subgraph whose weights are stored sparse (DENSIFY ops), starting
# with a 3x3 stride-2 CONV_2D on 3 input channels with padding 1, ending with a spatial MEAN (or
# DEPTH_TO_SPACE), and with at least 2/3 of the 1x1 CONV_2D weights zero.
XNNPACK_SPARSE_MIN_ZERO_SHARE = 2 / 3


def xnnpack_sparse_inference(data: bytes) -> dict:
    """Whether XNNPACK can run this model's sparse weights as sparse (faster) kernels, with the
    requirements it misses; read from the flatbuffer, as the delegate decides it."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    graph = model.Subgraphs(0)
    names = _enum_names(schema.BuiltinOperator)
    ops = [graph.Operators(o) for o in range(graph.OperatorsLength())]
    kinds = [_op_name(model.OperatorCodes(op.OpcodeIndex()), names) for op in ops]
    unmet = []
    if "DENSIFY" not in kinds:
        unmet.append("no weights stored sparse (DENSIFY)")
    first_conv = next((op for op, kind in zip(ops, kinds) if kind == "CONV_2D"), None)
    if first_conv is None or not _is_sparse_stem(graph, first_conv, schema):
        unmet.append("the first convolution is not a 3x3 stride-2 CONV_2D on 3 channels with padding 1")
    if not {"MEAN", "DEPTH_TO_SPACE"} & set(kinds):
        unmet.append("no spatial MEAN or DEPTH_TO_SPACE to end the sparse subgraph")
    zero_share = _pointwise_zero_share(model, graph, ops, kinds)
    if zero_share is None or zero_share < XNNPACK_SPARSE_MIN_ZERO_SHARE:
        unmet.append("under 2/3 of the 1x1 CONV_2D weights are zero (sparse)")
    return {
        "eligible": not unmet,
        "unmet": unmet,
        "conv_1x1_zero_share": None if zero_share is None else round(zero_share, 4),
        "source": "tensorflow/lite/delegates/xnnpack/README.md, Sparse Inference",
    }


def _is_sparse_stem(graph, op, schema) -> bool:
    options = schema.Conv2DOptions()
    table = op.BuiltinOptions()
    if table is None:
        return False
    options.Init(table.Bytes, table.Pos)
    kernel_shape = graph.Tensors(op.Inputs(1)).ShapeAsNumpy()
    return (
        options.StrideH() == options.StrideW() == 2
        and options.Padding() == schema.Padding.SAME
        and list(kernel_shape[1:]) == [3, 3, 3]
    )


def _pointwise_zero_share(model, graph, ops, kinds) -> float | None:
    """Zero share over the 1x1 CONV_2D kernels, counting a sparse-encoded kernel's stored values
    (the input of its DENSIFY) as its non-zeros."""
    densified = {op.Outputs(0): op.Inputs(0) for op, kind in zip(ops, kinds) if kind == "DENSIFY"}
    zeros = total = 0
    for op, kind in zip(ops, kinds):
        if kind != "CONV_2D":
            continue
        kernel = graph.Tensors(op.Inputs(1))
        shape = kernel.ShapeAsNumpy()
        if list(shape[1:3]) != [1, 1]:
            continue
        size = int(shape.prod())
        stored = graph.Tensors(densified.get(op.Inputs(1), op.Inputs(1)))
        values = model.Buffers(stored.Buffer()).DataAsNumpy()
        nonzero = (len(values) // 4) if op.Inputs(1) in densified else int(size - (values.view("<f4") == 0).sum())
        zeros += size - min(size, nonzero)
        total += size
    return zeros / total if total else None
