"""`p3mask protect`: arguments, bad keys, and (slow) a real run on LFW photos."""

import pytest

from p3mask.cli.main import build_parser, main
from p3mask.cli.protect import run


def test_flags():
    args = build_parser().parse_args(["protect", "--key", "k.p3m", "a.jpg", "b/", "--out", "o", "--device", "cpu"])
    assert args.func is run and args.inputs == ["a.jpg", "b/"] and (args.key, args.out, args.device) == ("k.p3m", "o", "cpu")


def test_foreign_key_is_rejected(tmp_path, capsys):
    key = tmp_path / "k.p3m"
    key.write_bytes(b"\x00" * 100)
    assert main(["protect", "--key", str(key), str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "k.p3m" in err and "not a p3mask key" in err


@pytest.mark.slow
def test_protects_user_photos_and_reports_the_rest(tmp_path, capsys):
    from p3mask.models.thresholds import match_threshold
    from p3mask.paths import data_root
    from p3mask.protect.chameleon import learn
    from p3mask.protect.config import get_config

    lfw = data_root() / "lfw"
    user = sorted((lfw / "Jennifer_Capriati").glob("*.jpg"))
    team = ("mobileface",)
    config = get_config("mid", team=team, match_model="mobilefacenet", epochs=1)
    thresholds = {n: match_threshold(n) for n in ("mobileface", "mobilefacenet")}
    key = learn(user[:4], config, user="jc", device="cpu", progress=False, thresholds=thresholds).key
    key_path = key.save(tmp_path / "jc.p3m")
    stranger = sorted((lfw / "Tony_Blair").glob("*.jpg"))[1]
    inputs = [str(p) for p in user[20:22]] + [str(stranger)]
    code = main(["protect", "--key", str(key_path), *inputs, "--out", str(tmp_path / "out"), "--device", "cpu"])
    assert code == 1  # the stranger's photo is not protected
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(p.name for p in user[20:22])
    captured = capsys.readouterr()
    assert "2 of 3 photo(s) protected" in captured.out
    assert stranger.name in captured.err and "left unprotected" in captured.err
