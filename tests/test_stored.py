"""The stored figures the book reads: every published figure names its source, data and metric,
and every logged run has a score."""

import pytest

from nfp_lib.stored import stored_result


def test_published_figures_say_where_they_come_from():
    published = stored_result("published")
    for entry in published["entries"]:
        assert {"model", "source", "url", "data"} <= entry.keys(), entry
        figures = [key for key in entry if key in published["metrics"]]
        assert figures, f"{entry['model']}: no figure with a defined metric"
        assert all(isinstance(entry[key], float) for key in figures)


def test_every_logged_run_has_a_score():
    runs = stored_result("experiments")["runs"]
    assert runs
    for run in runs:
        assert run["run"] and 0 < run["val_ssim"] < 1, run


def test_unknown_name_lists_the_stored_ones():
    with pytest.raises(ValueError, match="published"):
        stored_result("nonsense")
