import json

import pytest

from nfp_lib.config import (
    PRESETS,
    Config,
    ModelConfig,
    TrainConfig,
    check_resume,
    load_config,
)


def test_round_trip_through_json(tmp_path):
    for name, config in PRESETS.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(config.to_dict()))
        assert load_config(path) == config


def test_preset_by_name_and_replace():
    laptop = load_config("laptop")
    assert laptop.model.patch_size == 4
    changed = laptop.replace(model={"filters": (8, 8, 8)}, train={"epochs": 1})
    assert changed.model.filters == (8, 8, 8)
    assert changed.train.epochs == 1
    assert laptop.model.filters == (32, 32, 32)


def test_keras_io_preset_is_the_published_model():
    model = PRESETS["keras-io"].model
    assert model.filters == (64, 64, 64)
    assert model.kernel_sizes == (5, 3, 1)
    assert model.activation == "relu"
    assert model.head == "conv3d"
    assert not model.causal
    assert PRESETS["convlstm-64"].model.causal


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"filters": ()}, "at least one"),
        ({"filters": (8, 8), "kernel_sizes": (3,)}, "one per layer"),
        ({"kernel_sizes": (4, 3, 1)}, "odd"),
        ({"activation": "gelu"}, "activation"),
        ({"norm": "layer"}, "norm"),
        ({"head": "dense"}, "head"),
        ({"patch_size": 0}, "patch_size"),
        ({"filters": (0, 8, 8)}, "positive"),
        ({"motion_kernel": 4}, "motion_kernel"),
        ({"motion_kernel": -1}, "motion_kernel"),
    ],
)
def test_bad_model_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"loss": "huber"}, "loss"),
        ({"finish_from": -1, "finish_loss": "l1"}, "finish_from"),
        ({"finish_from": 2, "finish_loss": "huber"}, "finish_loss"),
        ({"finish_loss": "l1"}, "finish_loss: 'l1' is never used"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"epochs": 0}, "epochs"),
        ({"num_frames": 1}, "num_frames"),
        ({"image_size": 16}, "image_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"sampling_end": 1.5}, "sampling_end"),
        ({"sampling_start": -1}, "sampling_start"),
        ({"lr_schedule": "step"}, "lr_schedule"),
    ],
)
def test_bad_train_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_load_config_errors(tmp_path):
    with pytest.raises(ValueError, match="preset"):
        load_config("no-such-preset")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_config(bad)
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"model": {"filterz": [8]}}))
    with pytest.raises(ValueError, match="unknown keys"):
        load_config(unknown)
    with pytest.raises(ValueError, match="expected keys"):
        Config.from_dict({"optimiser": {}})


def test_training_through_the_mirror_average_needs_an_averaging_model():
    train = TrainConfig(average_mirrors=True)
    with pytest.raises(ValueError, match="average_mirrors: .* needs a model with mirror_average"):
        Config(train=train)
    assert Config(ModelConfig(mirror_average=True), train).train.average_mirrors


def test_finish_loss_trains_the_last_epochs():
    t = TrainConfig(epochs=5, loss="bce", finish_loss="l1", finish_from=4)
    assert [t.loss_at(epoch) for epoch in range(1, 7)] == ["bce"] * 3 + ["l1"] * 3
    assert [TrainConfig(epochs=2, loss="mse").loss_at(epoch) for epoch in (1, 2)] == ["mse"] * 2


def test_a_run_resumes_only_with_the_settings_it_started_with():
    saved = Config(train=TrainConfig(epochs=5, finish_loss="l1", finish_from=4))
    check_resume("run", saved, saved.replace(train={"epochs": 8}), done=5)  # epochs may grow
    check_resume("run", saved, saved.replace(train={"epochs": 3}), done=3)  # or shrink to done
    with pytest.raises(ValueError, match=r"train.epochs 5 -> 2\)"):
        check_resume("run", saved, saved.replace(train={"epochs": 2}), done=3)
    changes = {"learning_rate": 0.01, "seed": 1, "num_train": 10, "image_size": 32, "loss": "mse"}
    with pytest.raises(ValueError) as err:
        check_resume("run", saved, saved.replace(train=changes, model={"norm": "none"}), done=1)
    for key, value in changes.items():
        assert f"train.{key} {getattr(saved.train, key)!r} -> {value!r}" in str(err.value)
    assert "model.norm 'batch' -> 'none'" in str(err.value)
    # a finishing loss that has not started may change, or be added to a finished run
    check_resume("run", saved, saved.replace(train={"finish_from": 6, "epochs": 8}), done=3)
    plain = Config(train=TrainConfig(epochs=5))
    finish = {"epochs": 7, "finish_from": 6, "finish_loss": "l1"}
    check_resume("run", plain, plain.replace(train=finish), done=5)
    with pytest.raises(ValueError, match="train.finish_from 4 -> 6"):
        check_resume("run", saved, saved.replace(train={"finish_from": 6}), done=4)
    with pytest.raises(ValueError, match="train.finish_from 0 -> 5"):
        check_resume("run", plain, plain.replace(train={**finish, "finish_from": 5}), done=5)
    cosine = Config(train=TrainConfig(epochs=5, lr_schedule="cosine"))
    with pytest.raises(ValueError, match="train.epochs 5 -> 6"):
        check_resume("run", cosine, cosine.replace(train={"epochs": 6}), done=1)


@pytest.mark.parametrize(
    "part, key, value, match",
    [
        ("train", "epochs", "5", "epochs: expected an integer, got '5'"),
        ("train", "epochs", 2.5, "epochs: expected an integer"),
        ("train", "fresh_data", "no", "fresh_data: expected true or false, got 'no'"),
        ("train", "mixed_precision", "false", "mixed_precision: expected true or false"),
        ("train", "learning_rate", "0.1", "learning_rate: expected a finite number"),
        ("train", "learning_rate", float("nan"), "learning_rate: expected a finite number"),
        ("train", "early_stopping_patience", -1, "early_stopping_patience"),
        ("train", "early_stopping_patience", 0, "early_stopping_patience"),
        ("train", "lr_patience", -1, "lr_patience"),
        ("train", "image_size", 100000, "image_size: expected an integer from 28 to 512"),
        ("train", "num_train", 10**7, "GiB"),
        ("train", "image_size", 30, "image_size: expected a multiple of patch_size 4, got 30"),
        ("train", "digits", "emnist", "digits"),
        ("train", "loss", None, "loss: expected a string"),
        ("model", "channels", 1.5, "channels: expected an integer"),
        ("model", "channels", True, "channels: expected an integer"),
        ("model", "filters", [200000], "filters: expected at most 1024"),
        ("model", "filters", 5, "filters: expected a list of integers"),
        ("model", "filters", [8.5], "filters: expected a list of integers"),
        ("model", "kernel_sizes", [99], "kernel sizes"),
    ],
)
def test_settings_have_their_types_and_ranges(part, key, value, match):
    data = PRESETS["tiny"].to_dict()
    data[part][key] = value
    with pytest.raises(ValueError, match=match):
        Config.from_dict(data)


def test_a_part_that_is_not_an_object_is_refused():
    with pytest.raises(ValueError, match="ModelConfig: expected an object of settings, got None"):
        Config.from_dict({"model": None})
