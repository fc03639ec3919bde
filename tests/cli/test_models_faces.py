import json
import shutil

import numpy as np
import pytest
from PIL import Image

from p3mask.cli.main import main
from p3mask.paths import data_root

ZOO_DIMS = {"facenet": 128, "sface": 128, "mobilefacenet": 192, "mobileface": 256, "dlib": 128,
            "w600k_mbf": 512, "fr_feature": 512, "facexzoo_mbf": 512}


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_models_list_json_reports_eight_ready_architectures_with_licences(capsys):
    assert main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == set(ZOO_DIMS)
    assert all(r["ready"] for r in rows)
    assert len({r["architecture"] for r in rows}) == len(ZOO_DIMS)
    assert {r["name"]: r["embedding_dim"] for r in rows} == ZOO_DIMS
    assert all(r["licence"] for r in rows)
    by_name = {r["name"]: r for r in rows}
    assert "non-commercial research only" in by_name["w600k_mbf"]["licence"]


def test_models_list_text_has_a_licence_column(capsys):
    assert main(["models", "list"]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert "licence" in header
    w600k = next(line for line in lines if line.startswith("w600k_mbf"))
    assert "non-commercial research only" in w600k


def test_models_pull_rejects_unknown_name(capsys):
    assert main(["models", "pull", "arcface"]) == 2
    assert "valid models: facenet" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_faces_bad_inputs_one_line_each_and_rest_processed(tmp_path, capsys):
    photo = data_root() / "lfw" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"
    shutil.copy(photo, tmp_path / "good.jpg")
    (tmp_path / "truncated.jpg").write_bytes(photo.read_bytes()[:2000])
    (tmp_path / "notes.jpg").write_text("this is not a photo")
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(tmp_path / "wall.png")
    assert main(["faces", str(tmp_path), "--out", str(tmp_path / "crops")]) == 1
    out, err = capsys.readouterr()
    assert "good.jpg: 1 face(s)" in out
    for name, problem in [("truncated.jpg", "truncated"), ("notes.jpg", "not an image"),
                          ("dot.png", "too small"), ("wall.png", "no face")]:
        lines = [line for line in err.splitlines() if name in line]
        assert len(lines) == 1 and problem in lines[0], (name, err)
    assert (tmp_path / "crops" / "good_face0.png").exists()
