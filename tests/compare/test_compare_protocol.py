"""The comparison protocol on real LFW photos with a do-nothing protector: every figure must then be
what an unprotected photo gives (no protection success beyond the clean error, perfect quality)."""

import math

import pytest
import torch

from p3mask.compare.protocol import run_user, split_probes, summarise
from p3mask.datasets import load_dataset
from p3mask.datasets.base import FaceDataset
from p3mask.evaluate.gallery import build_gallery
from p3mask.evaluate.probes import ProbeEmbedder
from p3mask.evaluate.scoring import query_psr
from p3mask.face.detect import FaceDetector
from p3mask.methods.base import Protector
from p3mask.models import load_models
from p3mask.recognition import FacePipeline

pytestmark = [pytest.mark.slow, pytest.mark.data, pytest.mark.weights]


class Untouched(Protector):
    """Returns every photo as it is."""

    name = "untouched"
    per_photo = False

    def setup(self, user_photos) -> None:
        self.photos = len(user_photos)

    def protect(self, image: torch.Tensor) -> torch.Tensor:
        return image.clone()


def test_untouched_photos_score_like_clean_ones():
    lfw = load_dataset("lfw")
    names = ["Colin_Powell", "Tony_Blair", "Serena_Williams"]
    data = FaceDataset("lfw", lfw.root, {n: lfw.identities[n][:5] for n in names})
    models = load_models(["mobileface", "dlib"])
    detector = FaceDetector()
    gallery = build_gallery(data, models, detector, use_cache=False, progress=False)
    splits = {n: (data.identities[n][:3], data.identities[n][3:]) for n in names}
    protector = Untouched(pool=("mobileface",), models=models, detector=detector)
    cases = [run_user(protector, i, n, splits[n], gallery) for i, n in enumerate(names)]
    assert [len(c.test) for c in cases] == [2, 2, 2] and protector.photos == 3

    row, details = summarise(cases, ProbeEmbedder(FacePipeline(models, detector)), gallery, ("mobileface",))
    clean = query_psr(split_probes(names, splits, gallery), gallery, 1)
    assert row["psr_seen"] == pytest.approx(clean["mobileface"])
    assert row["psr_unseen"] == pytest.approx(clean["dlib"])
    assert row["ssim_face"] == pytest.approx(1.0) and math.isnan(row["psnr"])  # identical photos
    per_user = details["per_user"]
    assert row["setup_s"] == pytest.approx(sum(u["setup_s"] for u in per_user) / 3) and row["setup_s"] > 0
    times = [t for u in per_user for t in u["protect_s"]]
    assert row["protect_s_per_photo"] == pytest.approx(sum(times) / 6) and min(times) > 0
    assert details["probes"] == 6 and details["unprotected"] == []
    # Gallery protection with untouched "protected" entries: the user is still found.
    assert row["gallery_psr"] <= 0.5
    # Retrieval: "protected" photos are the clean ones, so all four cases score as clean -> clean does,
    # and two "protected" photos of a user are as close as two clean ones.
    assert set(details["retrieval"]) == {"mobileface", "dlib"}
    for name, block in details["retrieval"].items():
        assert block["queries"] == 3 and block["entries"] == 3 and block["skipped"] == []
        for case in ("1a", "2a", "2b"):
            assert block["top1"][case] == block["top1"]["1b"], (name, case)
            assert block["precision_at_k"][case] == pytest.approx(block["precision_at_k"]["1b"]), (name, case)
        cos = block["cosine"]
        assert cos["protected_protected"] == pytest.approx(cos["clean_clean"], abs=1e-3)
        assert cos["clean_clean"] > cos["clean_other_people"], name  # dlib's cosines sit high (0.83 between people)
    assert row["retrieval_2a_seen"] == details["retrieval"]["mobileface"]["top1"]["2a"]
    assert row["retrieval_2a_unseen"] == details["retrieval"]["dlib"]["top1"]["2a"]
