import json

import pytest

from nfp_lib.config import (
    PRESETS,
    Config,
    ModelConfig,
    TrainConfig,
    check_schedule,
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


def test_finish_loss_trains_the_last_epochs():
    t = TrainConfig(epochs=5, loss="bce", finish_loss="l1", finish_from=4)
    assert [t.loss_at(epoch) for epoch in range(1, 7)] == ["bce"] * 3 + ["l1"] * 3
    assert [TrainConfig(epochs=2, loss="mse").loss_at(epoch) for epoch in (1, 2)] == ["mse"] * 2


def test_a_run_resumes_with_the_losses_it_started_with():
    saved = Config(train=TrainConfig(epochs=5, finish_loss="l1", finish_from=4))
    check_schedule("run", saved, saved.replace(train={"epochs": 8}))  # epochs may grow
    for change in ({"loss": "mse"}, {"finish_loss": "mse"}, {"finish_from": 5}):
        with pytest.raises(ValueError, match="trained with loss 'bce', then 'l1' from epoch 4"):
            check_schedule("run", saved, saved.replace(train=change))
    plain = Config(train=TrainConfig(epochs=5))
    with pytest.raises(ValueError, match="loss 'bce', expected the config's loss 'l1'"):
        check_schedule("run", plain, plain.replace(train={"loss": "l1"}))
