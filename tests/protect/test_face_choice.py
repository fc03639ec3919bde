"""The choice of faces to protect, on small constructed cosines (match 0.46, doubt 0.36: band 0.10)."""

import pytest
import torch

from p3mask.protect.face_choice import FaceChoice, FaceIndexError, FacePolicy, choose_faces

MATCH, DOUBT = 0.46, 0.36


def _choose(cosines, mode="failsafe", **kw):
    return choose_faces(torch.tensor(cosines), MATCH, DOUBT, FacePolicy(mode, **kw))


def test_sure_matches_are_protected_and_the_rest_left():
    choice = _choose([0.10, 0.70, 0.40, 0.50])
    assert choice.protect == (False, True, False, True)
    assert choice.reasons == ("stranger", "match", "stranger", "match")
    assert choice.indices == [1, 3]
    assert _choose([0.10, 0.70, 0.40], "strict") == FaceChoice((False, True, False), ("stranger", "match", "stranger"))


def test_a_lone_face_is_protected_on_doubt_whatever_its_score():
    for cos in (0.45, 0.2, -0.3):
        assert _choose([cos]) == FaceChoice((True,), ("doubt",))
        assert _choose([cos], "strict") == FaceChoice((False,), ("stranger",))


def test_clearly_closest_plausible_face_is_protected_alone():
    # 0.44 is plausible and 0.05 above half the band over the runner-up (0.38, also plausible)
    assert _choose([0.38, 0.44, 0.10]).reasons == ("stranger", "doubt", "stranger")
    # the runner-up below the doubt threshold: the closest is the only plausible face
    assert _choose([0.20, 0.37]).reasons == ("stranger", "doubt")


def test_a_tie_between_plausible_faces_protects_each_of_them():
    choice = _choose([0.40, 0.42, 0.10])  # gap 0.02 < margin 0.05
    assert choice.reasons == ("doubt", "doubt", "stranger")


def test_nothing_plausible_leaves_every_face_even_when_one_is_far_closer():
    choice = _choose([0.02, 0.30, -0.1])  # 0.28 clear of the others, yet below the doubt threshold
    assert choice.protect == (False, False, False) and set(choice.reasons) == {"stranger"}


def test_margin_can_be_set():
    assert _choose([0.40, 0.42], margin=0.01).reasons == ("stranger", "doubt")
    assert _choose([0.37, 0.45], margin=0.2).reasons == ("doubt", "doubt")


def test_flags_name_the_faces():
    assert _choose([0.1, 0.6, 0.2], "all").reasons == ("flag", "match", "flag")
    assert _choose([0.1, 0.6, 0.2], "largest").reasons == ("flag", "stranger", "stranger")
    assert _choose([0.1, 0.6, 0.2], "index", indices=(2, 2)).reasons == ("stranger", "stranger", "flag")
    assert _choose([], "largest") == FaceChoice((), ())
    with pytest.raises(FaceIndexError, match="face 3 asked for, but the photo has 3 face"):
        _choose([0.1, 0.6, 0.2], "index", indices=(3,))
    with pytest.raises(FaceIndexError, match="has no face"):
        _choose([], "index", indices=(0,))


def test_no_face():
    assert _choose([]) == FaceChoice((), ())


def test_bad_policies_and_inputs():
    with pytest.raises(ValueError, match="one of failsafe"):
        FacePolicy("some")
    with pytest.raises(ValueError, match="with mode 'index'"):
        FacePolicy("index")
    with pytest.raises(ValueError, match="with mode 'index'"):
        FacePolicy("all", (1,))
    with pytest.raises(ValueError, match=">= 0"):
        FacePolicy("index", (-1,))
    with pytest.raises(ValueError, match="margin"):
        FacePolicy(margin=-0.1)
    with pytest.raises(ValueError, match="above the match threshold"):
        choose_faces(torch.tensor([0.1]), 0.3, 0.4)
    with pytest.raises(ValueError, match=r"expected \(N,\) cosines"):
        choose_faces(torch.zeros(2, 2), MATCH, DOUBT)
