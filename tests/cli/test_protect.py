"""`p3mask protect`: arguments, bad keys, and (slow) a real run on LFW photos."""

from pathlib import Path

import pytest

from p3mask.cli.main import build_parser, main
from p3mask.cli.options import policy_from_args
from p3mask.cli.protect import describe, report_outcome, run
from p3mask.protect.apply import FaceOutcome, FileOutcome, ProtectReport
from p3mask.protect.face_choice import FacePolicy


def test_flags_reach_protect_files(monkeypatch, tmp_path):
    seen = {}

    class Key:
        match_model = "sface"

    def fake_protect_files(key, photos, out, **kwargs):
        seen.update(key=key, photos=photos, out=out, **kwargs)
        return []

    monkeypatch.setattr("p3mask.cli.protect.P3Mask.load", lambda path: Key())
    monkeypatch.setattr("p3mask.models.load_model", lambda name, device=None: ("matcher", name, str(device)))
    monkeypatch.setattr("p3mask.face.detect.FaceDetector", lambda: "detector")
    monkeypatch.setattr("p3mask.protect.apply.protect_files", fake_protect_files)
    argv = ["protect", "--key", "k.p3m", "a.jpg", "b/", "--out", str(tmp_path / "o"), "--device", "cpu",
            "--overwrite", "--keep-metadata", "--face", "1"]
    args = build_parser().parse_args(argv)
    assert args.func is run
    run(args)
    assert isinstance(seen["key"], Key) and seen["photos"] == ["a.jpg", "b/"] and seen["out"] == tmp_path / "o"
    assert seen["matcher"] == ("matcher", "sface", "cpu") and seen["detector"] == "detector"
    assert seen["overwrite"] is True and seen["keep_metadata"] is True and seen["policy"] == FacePolicy("index", (1,))


def _policy(*flags):
    return policy_from_args(build_parser().parse_args(["protect", "--key", "k.p3m", "a.jpg", "--out", "o", *flags]))


def test_face_choice_flags():
    assert _policy() == FacePolicy("failsafe")
    assert _policy("--strict-match") == FacePolicy("strict")
    assert _policy("--faces", "all") == FacePolicy("all") and _policy("--faces", "largest") == FacePolicy("largest")
    assert _policy("--face", "2", "--face", "0") == FacePolicy("index", (2, 0))
    with pytest.raises(SystemExit):  # one way of choosing at a time
        _policy("--strict-match", "--faces", "all")
    with pytest.raises(ValueError, match="--face takes face numbers >= 0"):
        _policy("--face", "-1")


def test_each_face_is_named_with_why_and_its_score(capsys):
    faces = [FaceOutcome((0, 0, 9, 9), 0.41, True, quality=71.25, ssim=0.97, strength=1.0, reason="doubt"),
             FaceOutcome((20, 0, 29, 9), 0.05, False)]
    assert describe(FileOutcome(Path("a.jpg"), Path("o/a.jpg"), ProtectReport(faces))) == (
        "face 0 protected (doubt, score 0.410, SSIMULACRA2 71.2, SSIM 0.9700); face 1 left (stranger, score 0.050)")
    report_outcome(FileOutcome(Path("a.jpg"), Path("o/a.jpg"), ProtectReport(faces)))
    assert capsys.readouterr().out.startswith("protected a.jpg -> o/a.jpg (face 0 protected (doubt, score 0.410")
    report_outcome(FileOutcome(Path("b.jpg"), None, ProtectReport(faces[1:]), "no face of x among 1 face(s)"))
    assert capsys.readouterr().err == (
        "not protected b.jpg: no face of x among 1 face(s) [face 0 left (stranger, score 0.050)]\n")


def test_existing_json_summary_is_not_replaced(tmp_path, capsys):
    summary = tmp_path / "s.json"
    summary.write_text("{}")
    assert main(["protect", "--key", "k.p3m", "a.jpg", "--out", str(tmp_path / "o"), "--json", str(summary)]) == 2
    assert "already exists" in capsys.readouterr().err and summary.read_text() == "{}"


def test_foreign_key_is_rejected(tmp_path, capsys):
    key = tmp_path / "k.p3m"
    key.write_bytes(b"\x00" * 100)
    assert main(["protect", "--key", str(key), str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "k.p3m" in err and "not a p3mask key" in err


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_protects_user_photos_and_reports_the_rest(tmp_path, capsys):
    from p3mask.models.thresholds import match_threshold
    from p3mask.paths import data_root
    from p3mask.protect.config import get_config
    from p3mask.protect.learning import learn

    lfw = data_root() / "lfw"
    user = sorted((lfw / "Jennifer_Capriati").glob("*.jpg"))
    team = ("mobileface",)
    config = get_config("mid", team=team, match_model="mobilefacenet", epochs=1)
    thresholds = {n: match_threshold(n) for n in ("mobileface", "mobilefacenet")}
    key = learn(user[:4], config, user="jc", device="cpu", progress=False, thresholds=thresholds).key
    key_path = key.save(tmp_path / "jc.p3m")
    stranger = sorted((lfw / "Tony_Blair").glob("*.jpg"))[1]
    inputs = [str(p) for p in user[20:22]] + [str(stranger)]
    code = main(["protect", "--key", str(key_path), *inputs, "--out", str(tmp_path / "out"), "--device", "cpu",
                 "--strict-match"])
    assert code == 1  # the stranger's photo is not protected
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(p.name for p in user[20:22])
    captured = capsys.readouterr()
    assert "2 of 3 photo(s) protected" in captured.out
    assert stranger.name in captured.err and "left unprotected" in captured.err
    assert "face 0 left (stranger, score" in captured.err
    # By default a lone face that is not a sure match is protected anyway, and said to be on doubt.
    code = main(["protect", "--key", str(key_path), str(stranger), "--out", str(tmp_path / "out2"), "--device", "cpu"])
    assert code == 0 and (tmp_path / "out2" / stranger.name).is_file()
    assert "face 0 protected (doubt, score" in capsys.readouterr().out
