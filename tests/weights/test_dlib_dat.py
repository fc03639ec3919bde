"""dlib DNN deserialiser: primitives on hand-made bytes, and a tiny synthetic network converted end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from p3mask.weights.dlib_dat import (
    DlibFormatError,
    _Reader,
    convert_dlib_resnet,
    parse_dlib_net,
    split_resnet,
)

# ---------------------------------------------------------------- a minimal dlib-format writer (test only)


def enc_int(value: int) -> bytes:
    magnitude = abs(value)
    payload = magnitude.to_bytes(max(1, (magnitude.bit_length() + 7) // 8), "little")
    return bytes([len(payload) | (0x80 if value < 0 else 0)]) + payload


def enc_float(mantissa: int, exponent: int) -> bytes:
    return enc_int(mantissa) + enc_int(exponent)


def enc_str(text: str) -> bytes:
    return enc_int(len(text)) + text.encode()


def enc_tensor(values: np.ndarray) -> bytes:
    dims = values.shape + (1,) * (4 - values.ndim)
    return enc_int(2) + b"".join(enc_int(d) for d in dims) + values.astype("<f4").tobytes()


def enc_alias(*dims: int) -> bytes:
    return enc_int(1) + b"".join(enc_int(d) for d in dims)


ONE, ZERO = enc_float(1, 0), enc_float(0, 0)
STATE = b"110" + enc_tensor(np.zeros((0, 0, 0, 0))) * 3  # flags and empty tensors of an add_layer


def enc_con(weight: np.ndarray, bias: np.ndarray, stride: int) -> bytes:
    out_ch, in_ch, k, _ = weight.shape
    pad = k // 2 if stride == 1 else 0
    geometry = b"".join(enc_int(v) for v in (out_ch, k, k, stride, stride, pad, pad))
    params = enc_tensor(np.concatenate([weight.ravel(), bias]).reshape(-1, 1, 1, 1))
    return (enc_str("con_4") + params + geometry + enc_alias(out_ch, in_ch, k, k) + enc_alias(1, out_ch, 1, 1)
            + ONE * 3 + ZERO)


def enc_affine(gamma: np.ndarray, beta: np.ndarray) -> bytes:
    c = gamma.size
    params = enc_tensor(np.concatenate([gamma, beta]).reshape(-1, 1, 1, 1))
    return enc_str("affine_") + params + enc_alias(1, c, 1, 1) * 2 + enc_int(0)


def enc_pool(tag: str, size: int, stride: int) -> bytes:
    return enc_str(tag) + b"".join(enc_int(v) for v in (size, size, stride, stride, 0, 0))


def enc_fc(weight_in_out: np.ndarray) -> bytes:
    n_in, n_out = weight_in_out.shape
    return (enc_str("fc_2") + enc_int(n_out) + enc_int(n_in) + enc_tensor(weight_in_out.reshape(n_in, n_out, 1, 1))
            + enc_alias(n_in, n_out, 1, 1) + enc_alias(0, 0, 0, 0) + enc_int(1) + ONE * 3 + ZERO)


def tiny_net(rng: np.random.Generator) -> tuple[bytes, dict[str, np.ndarray]]:
    """A dlib file with the face ResNet's layout cut to one identity and one down-sampling unit."""
    w = {
        "con1": rng.standard_normal((4, 3, 7, 7)), "con1b": rng.standard_normal(4),
        "aff1": rng.standard_normal(8),
        "u0c1": rng.standard_normal((4, 4, 3, 3)), "u0c2": rng.standard_normal((4, 4, 3, 3)),
        "u1c1": rng.standard_normal((8, 4, 3, 3)), "u1c2": rng.standard_normal((8, 8, 3, 3)),
        "fc": rng.standard_normal((8, 5)),
    }
    w = {k: v.astype(np.float32) for k, v in w.items()}
    zeros = np.zeros

    def unit(c1: str, c2: str, channels: int, stride: int) -> list[bytes]:
        ones = np.ones(channels, np.float32)
        return [enc_con(w[c1], zeros(channels, np.float32), stride), enc_affine(ones, ones),
                enc_str("relu_"), enc_con(w[c2], zeros(channels, np.float32), 1), enc_affine(ones, ones)]

    # details bottom-up, with None where a tag/skip wrapper sits
    details: list[bytes | None] = [enc_affine(w["aff1"][:4], w["aff1"][4:]), enc_str("relu_"),
                                   enc_pool("max_pool_2", 3, 2)]
    details += [None] + unit("u0c1", "u0c2", 4, 1) + [enc_str("add_prev_"), enc_str("relu_")]
    details += [None] + unit("u1c1", "u1c2", 8, 2) + [None, None, enc_pool("avg_pool_2", 2, 2),
                                                      enc_str("add_prev_"), enc_str("relu_")]
    details += [enc_pool("avg_pool_2", 0, 1), enc_fc(w["fc"])]
    head = enc_int(1) + enc_str("loss_metric_2") + enc_float(1, -2) + enc_float(3, -2)
    versions = b"".join(enc_int(1 if d is None else 2) for d in reversed(details)) + enc_int(3)
    net_input = enc_str("input_rgb_image_sized") + enc_float(245, -1) * 3 + enc_int(32) + enc_int(32)
    first = enc_con(w["con1"], w["con1b"], 2) + STATE + enc_int(1)
    body = b"".join(d + STATE for d in details if d is not None)
    return head + versions + net_input + first + body, w


# ---------------------------------------------------------------- primitives


@pytest.mark.parametrize("value", [0, 1, 7, 255, 256, -28, 2**40, -(2**31)])
def test_int_round_trip(value: int) -> None:
    assert _Reader(enc_int(value)).int_() == value


def test_float_is_mantissa_times_power_of_two() -> None:
    # 10737418 * 2**-28 is how dlib stores the loss margin 0.04 in the face model
    assert _Reader(bytes.fromhex("030ad7a3811c")).float_() == pytest.approx(0.04, rel=1e-7)
    assert _Reader(enc_float(-3, 1)).float_() == -6.0
    assert _Reader(enc_float(0, 32000)).float_() == math.inf
    assert math.isnan(_Reader(enc_float(0, 32002)).float_())


def test_tensor_string_bool() -> None:
    values = np.arange(6, dtype=np.float32).reshape(1, 2, 3, 1)
    r = _Reader(enc_tensor(values) + enc_str("relu_") + b"1")
    np.testing.assert_array_equal(r.tensor(), values)
    assert r.string() == "relu_"
    assert r.bool_() is True


def test_truncated_and_bad_bytes_raise() -> None:
    with pytest.raises(DlibFormatError, match="unexpected end"):
        _Reader(bytes([4, 1, 2])).int_()
    with pytest.raises(DlibFormatError, match="boolean"):
        _Reader(b"x").bool_()
    with pytest.raises(DlibFormatError, match="loss"):
        parse_dlib_net(enc_int(1) + enc_str("loss_mmod_"))


# ---------------------------------------------------------------- a whole (tiny) network


def test_tiny_network_parses_and_converts(tmp_path) -> None:
    data, w = tiny_net(np.random.default_rng(0))
    net = parse_dlib_net(data)
    assert net.input.attrs["avg_red"] == 122.5 and net.loss.attrs["dist_thresh"] == 0.75
    stem, units, fc = split_resnet(net)
    assert [down for _, down in units] == [False, True]
    assert [layer.attrs["stride_y"] for layer in (stem[0], units[0][0][0], units[1][0][0])] == [2, 1, 2]

    path = tmp_path / "tiny.dat"
    path.write_bytes(data)
    state = convert_dlib_resnet(path)
    torch.testing.assert_close(state["con1.weight"], torch.from_numpy(w["con1"]))
    torch.testing.assert_close(state["con1.bias"], torch.from_numpy(w["con1b"]))
    torch.testing.assert_close(state["affine1.gamma"], torch.from_numpy(w["aff1"][:4]))
    torch.testing.assert_close(state["affine1.beta"], torch.from_numpy(w["aff1"][4:]))
    torch.testing.assert_close(state["blocks.1.con2.weight"], torch.from_numpy(w["u1c2"]))
    torch.testing.assert_close(state["fc.weight"], torch.from_numpy(w["fc"]).T)  # dlib stores inputs x outputs
    torch.testing.assert_close(state["input_mean"], torch.full((3,), 122.5))
    assert len(state) == 4 + 2 * 8 + 2


def test_trailing_bytes_and_wrong_layout_raise() -> None:
    data, _ = tiny_net(np.random.default_rng(1))
    with pytest.raises(DlibFormatError, match="trailing"):
        parse_dlib_net(data + b"\x00")
    broken = data.replace(enc_str("add_prev_"), enc_str("relu_"), 1)
    with pytest.raises(DlibFormatError, match="residual unit"):
        split_resnet(parse_dlib_net(broken))
