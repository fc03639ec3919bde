"""``p3mask evaluate`` end to end on real LFW photos with real weights reports the four retrieval cases
for every model: two users with a mask learned for one epoch, a few distractor identities.

Slow: learns two masks and embeds a small gallery with two recognisers.
"""

import json
import math

import pytest

from p3mask.evaluate.report import markdown, summary, write_report
from p3mask.evaluate.runner import EvalConfig, run_evaluation
from p3mask.evaluate.schema import EvalReport
from p3mask.paths import data_root

pytestmark = [pytest.mark.slow, pytest.mark.data, pytest.mark.weights]

USERS = ("Serena_Williams", "Hugo_Chavez")
DISTRACTORS = ("Aaron_Eckhart", "AJ_Cook", "Tony_Blair", "Jennifer_Capriati", "Gerhard_Schroeder", "Colin_Powell")
MODELS = ("mobileface", "dlib")  # a team member and the held-out recogniser


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    lfw = data_root() / "lfw"  # present: the test is marked `data` (tests/conftest.py)
    root = tmp_path_factory.mktemp("lfw_small")
    for name in USERS:  # 10 photos each: 7 to learn on, 3 protected and searched
        (root / name).mkdir()
        for photo in sorted((lfw / name).glob("*.jpg"))[:10]:
            (root / name / photo.name).symlink_to(photo)
    for name in DISTRACTORS:  # fewer than min_photos: never drawn as users, always in the database
        (root / name).mkdir()
        for photo in sorted((lfw / name).glob("*.jpg"))[:3]:
            (root / name / photo.name).symlink_to(photo)
    config = EvalConfig(dataset="folder", root=root, users=2, min_photos=10, max_photos=10, epochs=1,
                        team=("mobileface",), models=MODELS, transforms=(), adaptive=False, use_cache=False,
                        device="cpu")
    return run_evaluation(config, progress=False)


def test_every_model_reports_the_four_cases(report):
    block = report.retrieval
    assert set(block) == set(MODELS)
    tested = sum(u.test_photos for u in report.per_user)
    for name, v in block.items():
        assert v.users + len(v.skipped) == 2
        assert v.queries + v.entries == tested - len(v.skipped)  # a skipped user has one test photo
        for case in ("1a", "1b", "2a", "2b"):
            assert 0.0 <= v.top1[case] <= 1.0, (name, case)
            assert 0.0 <= v.precision_at_k[case] <= 1.0, (name, case)
        assert all(-1.0 <= c <= 1.0 for c in v.cosine.values()), name
        # Sanity on clean photos: every clean query finds the user among the 28 other photos.
        assert v.top1["1b"] == 1.0, name
        assert v.cosine["clean_clean"] > v.cosine["clean_other_people"], name
        assert not math.isnan(v.top1["2a"]), name


def test_case_2a_is_in_the_written_report_and_the_printed_table(report, tmp_path):
    write_report(report, tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    written = {n: data["retrieval"][n]["top1"]["2a"] for n in MODELS}
    assert written == {n: report.retrieval[n].top1["2a"] for n in MODELS}
    assert json.dumps(EvalReport.load(tmp_path / "report.json").to_dict()) == json.dumps(data)  # the schema reads it
    text = (tmp_path / "report.md").read_text()
    assert "top-1 2a" in text and text == markdown(data) + "\n"
    printed = summary(report)
    for name in MODELS:
        assert any(line.strip().startswith(name) and " 2a " in line for line in printed.splitlines()), name
