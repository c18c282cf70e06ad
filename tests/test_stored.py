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


def test_the_float32_rerun_says_where_it_ran_and_logs_every_epoch():
    run = stored_result("laptop-float32")
    assert run["cpu"]["kind"] and run["cpu"]["cores"] == 2
    history = run["history"]
    epochs = len(history["epoch"])
    assert epochs == len(history["time"]) == len(history["val_ssim"]) >= 1
    assert all(t > 0 for t in history["time"]) and 0 < history["val_ssim"][-1] < 1
    assert 0 < run["evaluate"]["next_frame_ssim"] < 1


def test_unknown_name_lists_the_stored_ones():
    with pytest.raises(ValueError, match="published"):
        stored_result("nonsense")
