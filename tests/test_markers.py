"""The suite's skip policy (tests/conftest.py): a missing dataset or missing weights skip, with a reason."""

from pathlib import Path

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).parent / "conftest.py").read_text()


def test_missing_dataset_and_weights_skip_with_the_reason(pytester, monkeypatch, tmp_path):
    monkeypatch.setenv("P3MASK_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("P3MASK_HOME", str(tmp_path / "no-cache"))
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nmarkers =\n    data\n    weights\n")
    pytester.makepyfile("""
        import pytest

        @pytest.mark.data
        def test_lfw():
            raise AssertionError("ran without LFW")

        @pytest.mark.data("orl")
        def test_orl():
            raise AssertionError("ran without ORL")

        @pytest.mark.weights
        def test_weights():
            raise AssertionError("ran without weights")

        def test_plain():
            pass
    """)
    result = pytester.runpytest("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=3)
    result.stdout.fnmatch_lines(["*dataset lfw missing: *no-data/lfw (set P3MASK_DATA*",
                                 "*dataset orl missing: *no-data/orl*",
                                 "*weights missing in *no-cache/weights: facenet, *yunet (run `p3mask models pull`)*"])
