"""The one interface every registered model keeps (STYLE 2), checked for each model of the registry.

Architecture contract: built without weights (seeded), so it runs anywhere. Face contract: the converted
weights on real LFW faces through the library's own detect-align-embed pipeline.
"""

import pytest
import torch

from p3mask.face.image_io import load_image
from p3mask.models import available_models, load_model
from p3mask.models.registry import get_spec
from p3mask.paths import data_root
from p3mask.recognition import FacePipeline, largest_face

# Three people, two photos each.
FACES = [("Abel_Pacheco", 1), ("Abel_Pacheco", 4), ("Akhmed_Zakayev", 1), ("Akhmed_Zakayev", 3),
         ("Angela_Bassett", 1), ("Angela_Bassett", 2)]


@pytest.mark.parametrize("name", available_models())
def test_architecture_keeps_the_interface(name):
    spec = get_spec(name)
    torch.manual_seed(0)
    model = spec.build().eval()
    assert (tuple(model.input_size), model.embedding_dim) == (tuple(spec.input_size), spec.embedding_dim)
    template = torch.tensor(model.template)
    assert template.shape == (5, 2)
    assert template[0, 0] < template[1, 0] and template[3, 0] < template[4, 0]  # eyes, mouth corners: left first
    assert template[2, 1] > template[:2, 1].max() and template[3:, 1].min() > template[2, 1]  # eyes, nose, mouth
    x = torch.rand(2, 3, *spec.input_size, requires_grad=True)
    out = model(x)
    assert out.shape == (2, spec.embedding_dim)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2), rtol=0, atol=1e-5)
    out[:, 0].sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with torch.no_grad():
        torch.testing.assert_close(model(x[1:].detach())[0], out[1].detach(), rtol=1e-4, atol=1e-5)  # per sample
    h, w = spec.input_size
    with pytest.raises(ValueError, match="expected"):
        model(torch.rand(1, 3, h + 8, w))
    with pytest.raises(TypeError, match="float"):
        model(torch.zeros(1, 3, h, w, dtype=torch.uint8))


@pytest.fixture(scope="module")
def lfw_faces():
    """The FACES as ``(3, H, W)`` photos, with the landmarks of their largest detected face."""
    images = [load_image(data_root() / "lfw" / n / f"{n}_{k:04d}.jpg") for n, k in FACES]
    finder = FacePipeline({})
    landmarks = []
    for image in images:
        found, k = finder.locate(image, largest_face)
        assert k is not None
        landmarks.append(found.landmarks[k])
    return images, landmarks


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
@pytest.mark.parametrize("name", available_models())
def test_same_person_closer_than_different_people(name, lfw_faces):
    images, landmarks = lfw_faces
    emb = FacePipeline({name: load_model(name)}).embed_many(images, landmarks)[name]
    sim = emb @ emb.T
    same = torch.stack([sim[0, 1], sim[2, 3], sim[4, 5]])
    different = torch.stack([sim[i, j] for i in range(6) for j in range(i + 1, 6) if i // 2 != j // 2])
    assert same.min() > different.max(), (same, different)
