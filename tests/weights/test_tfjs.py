"""Reading TFJS weights manifests: dtypes, quantization, shards, and the errors on malformed input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from p3mask.weights.tfjs import decode_weights, load_tfjs_graph


def _shards(**blobs: bytes):
    return lambda name: blobs[name]


def test_float32_and_int32_across_groups_and_shards():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 3)).astype("<f4")
    b = np.array([7, -1, 3], "<i4")
    c = rng.standard_normal(5).astype("<f4")
    data = a.tobytes() + b.tobytes()
    manifest = [
        {"paths": ["g1-1.bin", "g1-2.bin"], "weights": [
            {"name": "a", "shape": [2, 3], "dtype": "float32"},
            {"name": "b", "shape": [3], "dtype": "int32"},
        ]},
        {"paths": ["g2.bin"], "weights": [{"name": "c", "shape": [5], "dtype": "float32"}]},
    ]
    out = decode_weights(manifest, _shards(**{"g1-1.bin": data[:10], "g1-2.bin": data[10:], "g2.bin": c.tobytes()}))
    assert list(out) == ["a", "b", "c"]
    np.testing.assert_array_equal(out["a"], a)
    np.testing.assert_array_equal(out["b"], b)
    assert out["b"].dtype == np.int32
    np.testing.assert_array_equal(out["c"], c)


def test_scalar_weight_has_empty_shape():
    out = decode_weights([{"paths": ["s"], "weights": [{"name": "eps", "shape": [], "dtype": "float32"}]}],
                         _shards(s=np.float32(1e-3).tobytes()))
    assert out["eps"].shape == ()
    assert out["eps"] == np.float32(1e-3)


@pytest.mark.parametrize("qdtype", ["uint8", "uint16"])
def test_affine_quantization_is_q_times_scale_plus_min(qdtype):
    q = np.array([0, 1, 200, 255], qdtype).astype("<" + np.dtype(qdtype).str[1:])
    quant = {"dtype": qdtype, "scale": 0.5, "min": -3.0}
    out = decode_weights([{"paths": ["q"], "weights": [
        {"name": "w", "shape": [2, 2], "dtype": "float32", "quantization": quant}]}], _shards(q=q.tobytes()))
    np.testing.assert_allclose(out["w"], (q.astype(np.float64) * 0.5 - 3.0).reshape(2, 2))
    assert out["w"].dtype == np.float32


def test_float16_quantization_widens_to_float32():
    h = np.array([1.5, -0.25, 65504.0], "<f2")
    entry = {"name": "w", "shape": [3], "dtype": "float32", "quantization": {"dtype": "float16"}}
    out = decode_weights([{"paths": ["h"], "weights": [entry]}], _shards(h=h.tobytes()))
    np.testing.assert_array_equal(out["w"], h.astype(np.float32))
    assert out["w"].dtype == np.float32


def test_quantized_int32_is_rounded():
    q = np.array([0, 3], "u1")
    entry = {"name": "i", "shape": [2], "dtype": "int32",
             "quantization": {"dtype": "uint8", "scale": 0.3333333, "min": 0.0}}
    out = decode_weights([{"paths": ["q"], "weights": [entry]}], _shards(q=q.tobytes()))
    np.testing.assert_array_equal(out["i"], [0, 1])
    assert out["i"].dtype == np.int32


@pytest.mark.parametrize(("manifest_weights", "blob", "message"), [
    ([{"name": "w", "shape": [4], "dtype": "float32"}], b"\0" * 12, "needs bytes"),
    ([{"name": "w", "shape": [2], "dtype": "float32"}], b"\0" * 12, "manifest describes 8"),
    ([{"name": "w", "shape": [1], "dtype": "string"}], b"\0" * 4, "unsupported dtype"),
    ([{"name": "w", "shape": [1], "dtype": "float32", "quantization": {"dtype": "int4"}}], b"\0", "quantization"),
    ([{"name": "w", "shape": [1], "dtype": "float32"}, {"name": "w", "shape": [1], "dtype": "float32"}],
     b"\0" * 8, "twice"),
])
def test_malformed_manifests_raise(manifest_weights, blob, message):
    with pytest.raises(ValueError, match=message):
        decode_weights([{"paths": ["b"], "weights": manifest_weights}], _shards(b=blob))


def test_load_graph_model_json_and_bare_manifest(tmp_path):
    w = np.arange(6, dtype="<f4")
    (tmp_path / "m.bin").write_bytes(w.tobytes())
    manifest = [{"paths": ["m.bin"], "weights": [{"name": "k", "shape": [3, 2], "dtype": "float32"}]}]
    nodes = [{"name": "x", "op": "Placeholder"}, {"name": "k", "op": "Const"}]
    (tmp_path / "model.json").write_text(json.dumps(
        {"format": "graph-model", "modelTopology": {"node": nodes}, "weightsManifest": manifest}))
    (tmp_path / "bare.json").write_text(json.dumps(manifest))
    graph = load_tfjs_graph(tmp_path / "model.json")
    assert [n["op"] for n in graph.nodes] == ["Placeholder", "Const"]
    np.testing.assert_array_equal(graph.weights["k"], w.reshape(3, 2))
    bare = load_tfjs_graph(tmp_path / "bare.json")
    assert bare.nodes == ()
    np.testing.assert_array_equal(bare.weights["k"], w.reshape(3, 2))


def test_json_without_manifest_raises(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"modelTopology": {}}))
    with pytest.raises(ValueError, match="weightsManifest"):
        load_tfjs_graph(tmp_path / "x.json")
