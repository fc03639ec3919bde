"""Issue 13: no photo lost, no false success, no traceback, metadata removed, per-file reporting.

Every case runs the real CLI on a corpus generated here (see ``safety_corpus``); the face pipeline
is a stand-in (masking is tested with real weights in tests/protect), so these tests are about the
file layer: what is written, what is refused, what is said, and that pre-existing files keep their
bytes.
"""

import errno

import pytest
import safety_corpus as corpus
from PIL import Image

from p3mask.cli.main import main
from p3mask.face.image_io import load_image


@pytest.fixture
def key_path(tmp_path):
    corpus.key(tmp_path / "keys" / "alice.p3m")
    return tmp_path / "keys" / "alice.p3m"


@pytest.fixture
def fake(monkeypatch):
    return corpus.fake_pipeline(monkeypatch)


def _protect(key_path, *argv):
    return main(["protect", "--key", str(key_path), *map(str, argv)])


# --- photos lost ---------------------------------------------------------------------------------

def test_protect_never_replaces_an_existing_photo_named_like_an_input(tmp_path, key_path, fake, capsys):
    a, b = corpus.photo(tmp_path / "a" / "x.jpg", 1), corpus.photo(tmp_path / "b" / "x.jpg", 2)
    before = corpus.snapshot(tmp_path)
    assert _protect(key_path, a, b, "--out", tmp_path / "b") == 1
    err = capsys.readouterr().err
    assert corpus.unchanged(before) == []
    assert f"{b} already exists; not replaced (pass --overwrite)" in err
    assert "would be the photo itself" in err
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["x.jpg"]


@pytest.mark.weights
def test_protect_into_an_album_skips_the_clash_and_does_the_rest(tmp_path, key_path, fake, capsys):
    album = corpus.photo(tmp_path / "album" / "IMG_0001.jpg", 9)
    corpus.photo(tmp_path / "new" / "IMG_0001.jpg", 1)
    corpus.photo(tmp_path / "new" / "IMG_0002.jpg", 2)
    before = corpus.snapshot(tmp_path)
    assert _protect(key_path, tmp_path / "new", "--out", tmp_path / "album") == 1
    out, err = capsys.readouterr()
    assert corpus.unchanged(before) == []
    assert f"{album} already exists" in err
    assert "1 of 2 photo(s) protected" in out and (tmp_path / "album" / "IMG_0002.jpg").is_file()
    assert _protect(key_path, tmp_path / "new", "--out", tmp_path / "album", "--overwrite") == 0
    assert corpus.unchanged(before) == [album]  # replaced only when asked


@pytest.mark.weights
def test_each_file_is_reported_when_done_and_each_failure_once(tmp_path, key_path, monkeypatch):
    from p3mask.protect.apply import protect_files

    events = []
    corpus.fake_pipeline(monkeypatch, events)
    for i in range(3):
        corpus.photo(tmp_path / "in" / f"p{i}.png", i)
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG not really")
    outcomes = protect_files(corpus.key(), [tmp_path / "in"], tmp_path / "out",
                             on_outcome=lambda o: events.append(("done", o.source.name)))
    kinds = [e[0] for e in events]
    assert kinds == ["done", "work", "done", "work", "done", "work", "done"]  # broken first (sorted), then one by one
    assert [o.ok for o in outcomes] == [False, True, True, True]


@pytest.mark.weights
def test_failures_are_printed_once_and_not_taken_files_are_named(tmp_path, key_path, fake, capsys):
    folder = tmp_path / "in"
    corpus.photo(folder / "ok.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    for name in ("a.heic", "notes.txt", ".hidden.jpg"):
        (folder / name).write_bytes(b"x")
    (folder / ".git").mkdir()
    assert _protect(key_path, folder, tmp_path / "missing.jpg", "--out", tmp_path / "out") == 1
    out, err = capsys.readouterr()
    assert err.count("broken.jpg") == 1 and err.count("missing.jpg") == 1
    assert "missing.jpg: file not found" in err
    assert "a.heic: unsupported file type '.heic'" in out and "notes.txt: unsupported file type" in out
    assert ".hidden.jpg: hidden file" in out and ".git: hidden folder" in out
    assert "1 of 3 photo(s) protected" in out and "4 file(s) not taken" in out


def test_a_folder_of_heic_files_says_why_nothing_was_done(tmp_path, key_path, fake, capsys):
    for i in range(2):
        (tmp_path / "phone" / f"IMG_{i}.HEIC").parent.mkdir(exist_ok=True)
        (tmp_path / "phone" / f"IMG_{i}.HEIC").write_bytes(b"ftypheic")
    assert _protect(key_path, tmp_path / "phone", "--out", tmp_path / "out") == 1
    out = capsys.readouterr().out
    assert out.count("unsupported file type '.HEIC'") == 2 and "0 of 0 photo(s) protected" in out


@pytest.mark.weights
def test_the_same_file_given_twice_is_done_once(tmp_path, key_path, fake, capsys):
    x = corpus.photo(tmp_path / "x.jpg")
    assert _protect(key_path, x, x, tmp_path / ".", "--out", tmp_path / "out") == 0
    out, err = capsys.readouterr()
    # named twice, and found again in the folder given: done once, each repeat named
    assert err == "" and out.count("given more than once") == 2 and "1 of 1 photo(s) protected" in out


@pytest.mark.weights
def test_faces_never_overwrites_crops_and_refuses_a_file_as_out(tmp_path, monkeypatch, capsys):
    from p3mask.cli import faces

    one, two = corpus.photo(tmp_path / "a" / "me.jpg", 1), corpus.photo(tmp_path / "b" / "me.jpg", 2)
    crop = corpus.photo(tmp_path / "crops" / "me_face0.png", 3)
    before = corpus.snapshot(tmp_path)
    monkeypatch.setattr(faces, "describe", lambda *a: "stand-in line")  # no detection: the plan is tested
    assert main(["faces", str(one), str(two), "--out", str(tmp_path / "crops")]) == 1
    err = capsys.readouterr().err
    assert err.count(f"{crop} already exists; not replaced") == 2
    assert main(["faces", str(one), str(two), "--out", str(tmp_path / "fresh")]) == 1
    assert f"{two}: its crops me_faceN.png would clash with those of {one}" in capsys.readouterr().err
    assert corpus.unchanged(before) == []
    assert main(["faces", str(one), "--out", str(one)]) == 2
    assert capsys.readouterr().err.strip() == f"p3mask faces: --out {one}: is a file, not a folder"


def test_unlock_refuses_a_file_as_out_and_existing_outputs(tmp_path, key_path, capsys):
    x = corpus.photo(tmp_path / "x.jpg")
    assert main(["unlock", "--key", str(key_path), str(x), "--out", str(x)]) == 2
    assert capsys.readouterr().err.strip() == f"p3mask unlock: --out {x}: is a file, not a folder"
    existing = corpus.photo(tmp_path / "out" / "x.jpg", 5)
    before = corpus.snapshot(tmp_path)
    assert main(["unlock", "--key", str(key_path), str(x), "--out", str(tmp_path / "out")]) == 1
    assert f"{existing} already exists" in capsys.readouterr().err
    assert corpus.unchanged(before) == []


# --- false successes ---------------------------------------------------------------------------

@pytest.mark.weights
def test_a_short_write_is_caught_and_not_reported_as_protected(tmp_path, key_path, fake, monkeypatch, capsys):
    real_save = Image.Image.save

    def short_save(self, fp, *args, **kwargs):  # Pillow "returns after a short write"
        real_save(self, fp, *args, **kwargs)
        data = open(fp, "rb").read()
        open(fp, "wb").write(data[: len(data) // 2])

    x = corpus.photo(tmp_path / "x.jpg")
    monkeypatch.setattr(Image.Image, "save", short_save)
    assert _protect(key_path, x, "--out", tmp_path / "out") == 1
    out, err = capsys.readouterr()
    assert "does not read back" in err and "0 of 1 photo(s) protected" in out
    assert list((tmp_path / "out").iterdir()) == []  # no truncated file, no temporary


@pytest.mark.weights
def test_disk_full_is_reported_per_file_fault_injected(tmp_path, key_path, fake, monkeypatch, capsys):
    def full(self, fp, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    files = [corpus.photo(tmp_path / f"p{i}.jpg", i) for i in range(2)]
    monkeypatch.setattr(Image.Image, "save", full)
    assert _protect(key_path, *files, "--out", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert err.count("disk full (no space left on device)") == 2
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.weights
def test_disk_full_on_a_real_small_file_system(tmp_path, key_path, fake, capsys):
    with corpus.small_disk(tmp_path / "disk", "64k") as disk:
        if disk is None:
            pytest.skip("cannot mount a tmpfs here (the fault-injected test covers it)")
        files = [corpus.photo(tmp_path / f"p{i}.png", i, size=(96, 96)) for i in range(3)]
        corpus.fill(disk)
        code = _protect(key_path, *files, "--out", disk / "out")
        out, err = capsys.readouterr()
        written = [p for p in (disk / "out").rglob("*") if p.is_file()] if (disk / "out").exists() else []
        for path in written:  # whatever was reported written decodes in full
            load_image(path)
        assert code == 1 and "disk full" in err
        assert sum(line.startswith("protected ") for line in out.splitlines()) == len(written)
        assert not [p for p in (disk / "out").rglob(".*.part")] if (disk / "out").exists() else True


@pytest.mark.parametrize("command", ["protect", "learn"])
def test_cuda_without_cuda_is_one_line(command, tmp_path, key_path, capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    x = corpus.photo(tmp_path / "x.jpg")
    argv = ["protect", "--key", str(key_path), str(x), "--out", str(tmp_path / "o")] if command == "protect" \
        else ["learn", str(x), "--out", str(tmp_path / "k.p3m")]
    assert main([*argv, "--device", "cuda"]) == 2
    assert capsys.readouterr().err.strip() == f"p3mask {command}: device 'cuda' requested but CUDA is not available"


@pytest.mark.weights
def test_conversion_losses_are_said_per_file(tmp_path, key_path, fake, capsys):
    inputs = [corpus.rgba(tmp_path / "t.png"), corpus.animated_gif(tmp_path / "a.gif"),
              corpus.png16(tmp_path / "d.png")]
    assert _protect(key_path, *inputs, "--out", tmp_path / "out") == 0
    lines = capsys.readouterr().out.splitlines()
    line = {name: next(ln for ln in lines if f"{name} ->" in ln) for name in ("t.png", "a.gif", "d.png")}
    assert "transparency flattened onto white" in line["t.png"]
    assert "only the first of 3 frames is kept" in line["a.gif"]
    assert "16-bit depth reduced to 8 bits" in line["d.png"]


# --- metadata --------------------------------------------------------------------------------

@pytest.mark.weights
def test_location_and_device_metadata_removed_by_default_and_kept_on_request(tmp_path, key_path, fake, capsys):
    src = corpus.photo(tmp_path / "gps.jpg", size=(64, 48), exif=corpus.private_exif())
    assert _protect(key_path, src, "--out", tmp_path / "out") == 0
    line = capsys.readouterr().out
    assert "removed GPS location, camera make, camera model, camera serial number" in line
    back = Image.open(tmp_path / "out" / "gps.jpg")
    exif = back.getexif()
    assert corpus.GPS_IFD not in exif and 0x010F not in exif and 0x0110 not in exif
    assert 0xA431 not in exif.get_ifd(corpus.EXIF_IFD)
    assert exif.get(0x8298) == "(c) me" and 0x0112 not in exif  # other fields kept; orientation applied
    assert back.size == (48, 64)  # upright: orientation 6 turned the 64x48 photo
    assert _protect(key_path, src, "--out", tmp_path / "kept", "--keep-metadata") == 0
    kept = Image.open(tmp_path / "kept" / "gps.jpg").getexif()
    assert kept.get(0x010F) == "PhoneMaker" and corpus.GPS_IFD in kept
    assert "removed" not in capsys.readouterr().out


# --- learn --------------------------------------------------------------------------------------

def _no_learning(monkeypatch):
    monkeypatch.setattr("p3mask.cli.learn.learn", lambda *a, **k: pytest.fail("learning started"))


def _learned(key, seconds=1.0, skipped=(), warnings=()):
    from types import SimpleNamespace

    import torch

    fit = SimpleNamespace(strength=torch.ones(2), clean_cosine={}, protected_cosine={})
    return SimpleNamespace(key=key, fit=fit, seconds=seconds, skipped=list(skipped), warnings=list(warnings))


def test_learn_checks_its_outputs_before_learning(tmp_path, monkeypatch, capsys):
    _no_learning(monkeypatch)
    photos = tmp_path / "alice"
    corpus.photo(photos / "1.jpg")
    corpus.key(tmp_path / "old.p3m")
    existing = tmp_path / "old.p3m"
    (tmp_path / "earlier.learn").mkdir()
    corpus.photo(tmp_path / "earlier.learn" / "before_after.png")
    before = corpus.snapshot(tmp_path)
    cases = {
        str(tmp_path): "is a folder; give the key file to write",
        str(existing): "already exists; not replaced (pass --overwrite)",
        str(photos / "alice.p3m"): "would go into the photo folder",
        str(tmp_path / "earlier.p3m"): "the artefacts of an earlier run are there",
    }
    for out, message in cases.items():
        assert main(["learn", str(photos), "--out", out]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (out, err)
    assert main(["learn", str(photos), "--out", str(tmp_path / "k.p3m"), "--user", "a\x1b[31mb"]) == 2
    assert "failed check 'user'" in capsys.readouterr().err
    assert corpus.unchanged(before) == []


def test_learn_refuses_a_full_disk_before_learning_and_reports_a_failed_key_save(tmp_path, monkeypatch, capsys):
    with corpus.small_disk(tmp_path / "disk", "1m") as disk:
        if disk is None:
            pytest.skip("cannot mount a tmpfs here")
        photos = tmp_path / "alice"
        corpus.photo(photos / "1.jpg")
        corpus.fill(disk)
        _no_learning(monkeypatch)
        assert main(["learn", str(photos), "--out", str(disk / "alice.p3m")]) == 2
        assert "disk full" in capsys.readouterr().err
        (disk / "filler").unlink()

        def learn_then_fill(*args, **kwargs):  # the disk fills up while learning runs
            corpus.fill(disk)
            return _learned(corpus.key())

        monkeypatch.setattr("p3mask.cli.learn.learn", learn_then_fill)
        assert main(["learn", str(photos), "--out", str(disk / "alice.p3m")]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "the learned key could not be saved" in err and "disk full" in err
        assert not (disk / "alice.p3m").exists() and not list(disk.glob(".*.part"))


def test_learn_writes_artefacts_beside_the_key_and_npy_only_when_asked(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_learn(photos, config, **kwargs):
        seen.update(kwargs)
        return _learned(corpus.key(), warnings=["the mask was learned from a single photo: ..."])

    monkeypatch.setattr("p3mask.cli.learn.learn", fake_learn)
    corpus.photo(tmp_path / "alice" / "1.jpg")
    assert main(["learn", str(tmp_path / "alice"), "--out", str(tmp_path / "keys" / "alice.p3m")]) == 0
    artefacts = seen["out_dir"]
    assert artefacts.folder == tmp_path / "keys" / "alice.learn" and not artefacts.save_npy
    assert "warning: the mask was learned from a single photo" in capsys.readouterr().out
    assert main(["learn", str(tmp_path / "alice"), "--out", str(tmp_path / "k2.p3m"), "--save-epochs"]) == 0
    assert seen["out_dir"].save_npy


def test_learn_never_reads_its_own_artefacts_and_counts_copies_once(tmp_path):
    from p3mask.protect.learning import _load_photos, _warnings

    folder = tmp_path / "alice"
    first = corpus.photo(folder / "a.jpg", 1)
    for i in range(3):
        (folder / f"copy{i}.jpg").write_bytes(first.read_bytes())
    corpus.photo(folder / "alice.learn" / "before_after.png", 2)
    images, names, skipped = _load_photos([folder])
    assert names == [str(first)]
    reasons = dict(skipped)
    assert reasons[str(folder / "alice.learn")] == "p3mask learning artefacts, not photos"
    assert sum("identical copy of" in r for r in reasons.values()) == 3
    warnings = _warnings(len(images), skipped)
    assert any("3 photo(s) were identical copies" in w for w in warnings)
    assert any("single photo" in w for w in warnings)


def test_a_tie_between_two_people_is_warned(caplog):
    import torch

    from p3mask.protect.user_faces import choose_user_faces

    a, b = torch.nn.functional.normalize(torch.eye(8)[:2], dim=1)
    with caplog.at_level("WARNING"):
        choose_user_faces([a[None], a[None], b[None], b[None]], threshold=0.5)
    assert "another person appears in as many photos as the chosen user" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        choose_user_faces([a[None], a[None], a[None], b[None]], threshold=0.5)
    assert "as many photos" not in caplog.text


@pytest.mark.parametrize("argv", [["bench", "verify", "--pairs", "1"], ["bench", "learn"], ["bench", "calibrate"]])
def test_bench_never_replaces_its_json_unasked(argv, tmp_path, capsys):
    existing = tmp_path / "figures.json"
    existing.write_text('{"mine": 1}')
    assert main([*argv, "--json", str(existing)]) == 2
    assert f"{existing}: already exists; not replaced (pass --overwrite)" in capsys.readouterr().err
    assert existing.read_text() == '{"mine": 1}'


@pytest.mark.parametrize("command", ["evaluate", "compare"])
def test_report_commands_refuse_an_existing_report_before_the_work(command, tmp_path, capsys):
    name = "report.md" if command == "evaluate" else "compare.md"
    (tmp_path / name).write_text("my notes")
    assert main([command, "--out", str(tmp_path), "--users", "1"]) == 2
    assert f"{tmp_path / name}: already exists" in capsys.readouterr().err
    assert (tmp_path / name).read_text() == "my notes"


@pytest.mark.weights
def test_outputs_inside_the_input_folder_are_not_taken_as_inputs(tmp_path, key_path, fake, capsys):
    corpus.photo(tmp_path / "photos" / "x.jpg")
    out = tmp_path / "photos" / "protected"
    assert _protect(key_path, tmp_path / "photos", "--out", out) == 0
    before = corpus.snapshot(tmp_path)
    assert _protect(key_path, tmp_path / "photos", "--out", out) == 1  # x.jpg exists now: refused
    stdout, err = capsys.readouterr()
    assert "protected/x.jpg: inside the output folder" in stdout and "already exists" in err
    assert corpus.unchanged(before) == [] and not (out / "protected").exists()
