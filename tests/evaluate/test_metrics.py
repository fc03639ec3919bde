import math

import pytest
import torch
import torch.nn.functional as F

from p3mask.evaluate.metrics import (
    cosine_matrix,
    identification_hits,
    identity_scores,
    psr_from_hits,
    rate_matching_threshold,
    verification_below,
)


def _clustered(num_ids: int, per_id: int, dim: int = 16, spread: float = 0.1, seed: int = 0):
    """Embeddings of ``num_ids`` well separated identities with ``per_id`` photos each."""
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(num_ids, dim, generator=g), dim=1)
    emb = centres.repeat_interleave(per_id, 0) + spread * torch.randn(num_ids * per_id, dim, generator=g)
    labels = torch.arange(num_ids).repeat_interleave(per_id)
    return F.normalize(emb, dim=1), labels, centres


def test_cosine_matrix_shape_and_values():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    b = torch.tensor([[3.0, 0.0], [1.0, 1.0], [0.0, -1.0]])
    s = cosine_matrix(a, b)
    assert s.shape == (2, 3)
    assert torch.allclose(s, torch.tensor([[1.0, 2**-0.5, 0.0], [0.0, 2**-0.5, -1.0]]), atol=1e-6)


def test_cosine_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        cosine_matrix(torch.zeros(3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="share D"):
        cosine_matrix(torch.zeros(1, 3), torch.zeros(2, 4))
    with pytest.raises(TypeError):
        cosine_matrix(torch.zeros(1, 3, dtype=torch.long), torch.zeros(2, 3))


def test_identity_scores_takes_max_and_honours_exclusion():
    scores = torch.tensor([[0.1, 0.9, 0.3, 0.2]])
    labels = torch.tensor([0, 0, 1, 2])
    out = identity_scores(scores, labels, 4)
    assert out.tolist() == [[pytest.approx(0.9), pytest.approx(0.3), pytest.approx(0.2), -math.inf]]
    excluded = torch.tensor([[False, True, False, False]])
    assert identity_scores(scores, labels, 4, excluded)[0, 0] == pytest.approx(0.1)


def test_clean_probes_are_identified_and_own_photo_is_excluded():
    emb, labels, _ = _clustered(20, 5)
    ids = torch.arange(len(labels))
    hits = identification_hits(emb, labels, emb, labels, k=1, probe_ids=ids, gallery_ids=ids)
    assert hits.all()
    # Without excluding the probe's own photo every probe trivially finds itself; with a single photo
    # per identity and exclusion nobody can be found.
    one = emb[::5]
    lab = labels[::5]
    own = torch.arange(len(lab))
    assert identification_hits(one, lab, one, lab, 1).all()
    assert not identification_hits(one, lab, one, lab, 1, probe_ids=own, gallery_ids=own).any()


def test_top5_at_least_top1_and_psr():
    emb, labels, centres = _clustered(30, 4, spread=0.6, seed=1)
    g = torch.Generator().manual_seed(2)
    probes = F.normalize(centres[:10] + 0.9 * torch.randn(10, centres.shape[1], generator=g), dim=1)
    plabels = torch.arange(10)
    top1 = identification_hits(probes, plabels, emb, labels, 1)
    top5 = identification_hits(probes, plabels, emb, labels, 5)
    assert bool((top5 | ~top1).all())  # a top-1 hit is also a top-5 hit
    assert psr_from_hits(top1) == pytest.approx(1 - top1.float().mean().item())
    assert psr_from_hits(top5) <= psr_from_hits(top1)


def test_probe_far_from_its_identity_is_a_protection_success():
    emb, labels, centres = _clustered(10, 3)
    probe = F.normalize(-centres[3:4], dim=1)  # pushed to the antipode of its identity
    assert psr_from_hits(identification_hits(probe, torch.tensor([3]), emb, labels, 1)) == 1.0
    assert psr_from_hits(identification_hits(probe, torch.tensor([3]), emb, labels, 9)) == 1.0


def test_identification_rejects_bad_k_and_labels():
    emb, labels, _ = _clustered(3, 2)
    with pytest.raises(ValueError, match="positive"):
        identification_hits(emb, labels, emb, labels, 0)
    with pytest.raises(ValueError):
        identification_hits(emb, labels[:-1], emb, labels, 1)
    with pytest.raises(TypeError):
        identification_hits(emb, labels.float(), emb, labels, 1)


def test_verification_below_drops_own_pairs():
    clean = F.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.1], [1.0, -0.1]]), dim=1)
    protected = F.normalize(torch.tensor([[0.0, 1.0], [1.0, 0.05]]), dim=1)
    below = verification_below(protected, clean, 0.5)
    assert below.shape == (6,)
    assert below.tolist() == [True, True, True, False, False, False]
    ids = verification_below(protected, clean, 0.5, torch.tensor([0, 1]), torch.tensor([0, 1, 2]))
    assert ids.shape == (4,)


def test_psr_of_nothing_is_nan():
    assert math.isnan(psr_from_hits(torch.zeros(0, dtype=torch.bool)))


def test_rate_matching_threshold():
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    t = rate_matching_threshold(scores, 0.3)
    assert (scores >= t).float().mean().item() == pytest.approx(0.3)
    assert rate_matching_threshold(scores, 1.0) == pytest.approx(0.0)
    assert rate_matching_threshold(scores, 0.0) == math.inf
    with pytest.raises(ValueError):
        rate_matching_threshold(scores, 1.5)
    with pytest.raises(ValueError):
        rate_matching_threshold(torch.zeros(0), 0.5)
