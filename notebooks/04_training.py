# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Training
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nfp-book/nfp/blob/main/notebooks/04_training.ipynb)
#
# The previous chapters built the same ConvLSTM next-frame predictor twice, in PyTorch and in Keras.
# This chapter trains it: what the loss is, what the model sees during training, how one
# configuration object drives both frameworks, and what the training loop does besides stepping
# the optimiser (learning-rate schedule, early stopping, checkpoints you can resume from). We
# train the **plain ConvLSTM** first, the `plain` preset, whose head draws every pixel of the next
# frame: a short run live in both backends, then the model that was trained for longer and ships
# with the book. The `laptop` preset's motion head, which moves the current frame's pixels
# instead of drawing new ones, comes after it as an improvement, measured against the plain model
# in [Rollout and evaluation](05_rollout_evaluation.ipynb).

# %% [markdown]
# ## Set-up
#
# The book's code lives in a small library, `nfp_lib`. On your own machine `make book` has
# installed it already; on Colab this cell installs it from GitHub (once per session).

# %%
import subprocess
import sys

try:
    import nfp_lib  # noqa: F401
except ImportError:
    subprocess.check_call(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "nfp-lib @ git+https://github.com/nfp-book/nfp",
        ]
    )

# %% [markdown]
# The **parameters** cell. The defaults train the CPU-sized `plain` model for two short epochs
# in each framework (seconds per epoch on two cores); with `NFP_QUICK=1` the smallest model
# trains for one tiny epoch instead. On a GPU, set `TRAIN_FROM_SCRATCH = True` to train the
# full-size `FULL_PRESET` model at the end of the chapter instead of loading the shipped results.

# %% tags=["parameters"]
import os

QUICK = os.environ.get("NFP_QUICK") == "1"
PRESET = "tiny" if QUICK else "plain"  # the configuration trained live below
EPOCHS = 1 if QUICK else 2  # live training epochs in each framework
NUM_TRAIN = 32 if QUICK else 128  # training sequences per epoch
NUM_VAL = 8 if QUICK else 32  # validation sequences
# True shows progress bars (nice live, noisy in the static book)
PROGRESS = False
# True: train FULL_PRESET fully (hours on a GPU) instead of loading
TRAIN_FROM_SCRATCH = False
FULL_PRESET = "convlstm-64"
# where that run writes; rerunning resumes it
FULL_RUN_DIR = "runs/" + FULL_PRESET

# %%
import shutil
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # after KERAS_BACKEND is set: Keras picks its backend on import

from nfp_lib import data, keras_backend, metrics, pretrained, torch_backend, viz
from nfp_lib.config import PRESETS

# %% [markdown]
# ## The objective
#
# Either head of the model gives a predicted frame $\hat y$ with values in $[0, 1]$, like the
# true frame $y$: a pixel head through a sigmoid, the motion head as a weighted average of the
# current frame's pixels. We can read each pixel as "the probability that this pixel
# is ink" and score it with the **binary cross-entropy** (BCE), averaged over all pixels of all
# predicted frames:
#
# $$
# \mathcal{L}_\text{BCE} = -\frac{1}{|P|} \sum_{p \in P} \big[\, y_p \log \hat y_p
#   + (1 - y_p) \log (1 - \hat y_p) \,\big].
# $$
#
# This is the keras-io example's loss and the default here (`loss="bce"`). The alternative is
# the **mean squared error** $\frac{1}{|P|}\sum_p (y_p - \hat y_p)^2$ (`loss="mse"`), which
# OpenSTL and most papers use. Both are smallest when $\hat y = y$; BCE punishes a confident
# miss (predicting 0 where there is ink) far more strongly.
#
# One property of BCE surprises people: because the targets are gray levels and not just 0 or
# 1, even a perfect prediction does not score 0. The cell below scores four guesses for the next
# frame of some videos: the true frame, the current frame (copy), an all-black frame and a
# uniform gray frame at the mean intensity.

# %%
videos = data.generate_moving_mnist(16, num_frames=20, seed=1)
current, target = videos[:, :-1], videos[:, 1:]
guesses = {
    "the true next frame": target,
    "copy the current frame": current,
    "all black": np.zeros_like(target),
    "uniform gray (mean intensity)": np.full_like(target, target.mean()),
}
y = torch.from_numpy(target)
print(f"{'guess':<32} {'BCE':>7} {'MSE':>7}")
for name, guess in guesses.items():
    # log(0) is -inf: clip as Keras does
    g = torch.from_numpy(guess).clamp(1e-7, 1 - 1e-7)
    bce, mse = F.binary_cross_entropy(g, y), F.mse_loss(g, y)
    print(f"{name:<32} {bce:7.4f} {mse:7.4f}")

# %% [markdown]
# So a BCE training curve levels off well above zero (the floor is the entropy of the gray
# edges of the strokes), and a value is best judged against these references. Copying the
# current frame is a poor guess under BCE: its strokes are confidently in the wrong place.
#
# The clipping in that cell matters in training too. Without it, a prediction of exactly 1
# where the target is 0.9 has an infinite loss and, in PyTorch, a huge gradient (PyTorch
# divides by $\max(\hat y (1 - \hat y), 10^{-12})$); the cell below computes it. A single such
# pixel wrecks Adam's running averages for hundreds of steps. In float32 a motion head almost
# never predicts exactly 1, but bfloat16, with 8 significant bits, rounds every value close
# enough to 1 to exactly 1 (the cell shows from where): the first bfloat16 runs of the `laptop`
# preset stalled at the copy-the-last-frame level after one good epoch. Both backends' BCE
# therefore clips predictions to $[10^{-7}, 1 - 10^{-7}]$, as Keras always has, and the clipped
# pixels get no gradient.

# %%
sure = torch.ones(1, requires_grad=True)  # a prediction of exactly 1
F.binary_cross_entropy(sure, torch.tensor([0.9])).backward()
print("PyTorch's unclipped BCE at prediction 1, target 0.9:")
print(f"  gradient {sure.grad.item():.0e}")
# halfway between 1 and the next bfloat16 value below it
rounds_up = 1 - torch.finfo(torch.bfloat16).eps / 4
print(f"bfloat16 rounds everything above {rounds_up:.5f} to exactly 1")

# %% [markdown]
# A third choice is the **mean absolute error** $\frac{1}{|P|}\sum_p |y_p - \hat y_p|$
# (`loss="l1"`), and a fourth is the score we report itself: `loss="ssim"` trains on
# $1 - \mathrm{SSIM}$, the structural similarity of the [Rollout and
# evaluation](05_rollout_evaluation.ipynb) chapter with the same Gaussian window, which compares
# local brightness, contrast and structure instead of single pixels (`torch_backend.ssim_loss`;
# Keras gets the same function in `keras_backend`). The losses differ most where the future is
# uncertain. Say a digit will move 2 pixels to the right with probability 0.6, or 3 pixels with
# probability 0.4. Which single guess does each loss prefer? The cell below scores three guesses
# against both outcomes, weighted by their odds.

# %%
frame = videos[0, 5, :, :, 0]  # one frame, (H, W)
outcomes = [np.roll(frame, 2, axis=1), np.roll(frame, 3, axis=1)]
odds = [0.6, 0.4]
blend = odds[0] * outcomes[0] + odds[1] * outcomes[1]
candidates = {
    "the likelier frame (2 pixels)": outcomes[0],
    "the other frame (3 pixels)": outcomes[1],
    "the odds-weighted average (a blur)": blend,
}
losses = {
    "BCE": F.binary_cross_entropy,
    "MSE": F.mse_loss,
    "L1": F.l1_loss,
    "1-SSIM": torch_backend.ssim_loss,
}
print(
    f"{'expected loss of the guess':<36}"
    + "".join(f"{name:>8}" for name in losses)
)
for name, guess in candidates.items():
    g = torch.from_numpy(guess).clamp(1e-7, 1 - 1e-7)
    expected = [
        sum(
            p * fn(g, torch.from_numpy(o)).item()
            for p, o in zip(odds, outcomes, strict=True)
        )
        for fn in losses.values()
    ]
    print(f"{name:<36}" + "".join(f"{v:8.4f}" for v in expected))

# %% [markdown]
# BCE and MSE are lowest for the blend: under uncertainty they teach the model to average the
# possible futures, which is why trained predictors blur. L1 is lowest for the per-pixel median,
# here the likelier frame, sharp. 1 - SSIM sits in between: it too prefers the blend, but by a
# smaller margin (about a quarter below the likelier frame, where BCE is almost half below),
# because the blend keeps part of both outcomes' strokes. Its real advantage is another one: it
# is the score we report, so training on it optimises exactly that. Yet as a last epoch after
# BCE it did worse than L1 ([Results and performance](07_results.ipynb) compares the choices), so
# the `laptop` preset learns the motion with BCE, the fastest teacher, and sharpens it with L1 for
# its last epochs.

# %% [markdown]
# ## Teacher forcing
#
# During training the model reads a whole video at once and predicts every next frame: the
# input is frames $1..T-1$ and the target is frames $2..T$ (`data.shift_frames`, from the
# Moving MNIST chapter). The prediction of frame $t+1$ is made from the **true** frames $1..t$,
# never from the model's own earlier guesses. This is *teacher forcing*: it makes training fast
# (one pass over the sequence gives $T-1$ training signals) and stable, but the model never
# practises recovering from its own mistakes. The chapter [Rollout and
# evaluation](05_rollout_evaluation.ipynb) shows what that costs when the model has to continue a
# video on its own, and [Going further](06_going_further.ipynb) shows a remedy (scheduled
# sampling).

# %%
x, y = data.shift_frames(videos)
print("input x:", x.shape, " target y:", y.shape)
untrained = torch_backend.build_model(PRESETS["plain"].model)
# model(x), numpy in and out
pred = torch_backend.predict_next(untrained, videos)
print("predictions:", pred.shape, "- one per target frame")

# %% [markdown]
# ## The data: fresh sequences every epoch
#
# Moving MNIST is generated, so we never run out of it. With `fresh_data=True` (set in the
# `laptop` preset) every epoch draws `num_train` new sequences, as OpenSTL does, so the model
# cannot memorise a fixed training set and the validation loss tracks the training loss
# closely. The validation set is drawn once and stays fixed, so epochs are comparable. Every
# draw is seeded from the config's `seed`, the split and the epoch, which makes two things
# true: a run can be repeated exactly, and the PyTorch and Keras backends train on exactly the
# same sequences. `data.training_sequences(train_config, split, epoch)` is where both `fit`
# functions get them:

# %%
small = PRESETS["laptop"].replace(train={"num_train": 4, "num_val": 4}).train
train_1, train_1_again, train_2 = (
    data.training_sequences(small, "train", e) for e in (1, 1, 2)
)
val_1, val_2 = (data.training_sequences(small, "val", e) for e in (1, 2))
print("training videos per epoch:", train_1.shape)
print("epoch 1 drawn twice, identical:", np.array_equal(train_1, train_1_again))
print("epochs 1 and 2, identical:     ", np.array_equal(train_1, train_2))
print("validation in epochs 1 and 2:  ", np.array_equal(val_1, val_2))

# %% [markdown]
# ## One configuration for both frameworks
#
# Everything about a run is in one `Config`: a `ModelConfig` (the architecture) and a
# `TrainConfig` (how to fit it). `PRESETS` names the configurations the book uses. Here is
# `plain`, the plain ConvLSTM sized for a laptop CPU: three ConvLSTM layers of 32 filters with
# 3 x 3 kernels, on frames cut into 4 x 4 patches (a 64 x 64 frame becomes 16 x 16 x 16, which
# makes each step about 16 times cheaper; [Going further](06_going_further.ipynb) times this), and
# a pixel head that draws each 4 x 4 patch of the next frame through a sigmoid. Its training,
# printed below: epochs of fresh sequences, BCE and then L1 for the last few (`finish_loss`,
# `finish_from`), with a moving average of the weights (`ema_decay`, below).

# %%
for part, values in PRESETS["plain"].to_dict().items():
    print(f"{part}:")
    for key, value in values.items():
        print(f"    {key:<24} {value}")
parameters = sum(p.numel() for p in untrained.parameters())
print(f"\n{parameters:,} trainable parameters")

# %% [markdown]
# The `laptop` preset is the same but for one field, the head: `motion_kernel=11` makes it
# predict, for every patch, an 11 x 11 kernel that moves the current frame's pixels by up to 5
# in each direction ([A ConvLSTM in PyTorch](02_convlstm_pytorch.ipynb)).

# %%
plain_model, laptop_model = PRESETS["plain"].model, PRESETS["laptop"].model
for field in plain_model.__dataclass_fields__:
    plain, laptop = getattr(plain_model, field), getattr(laptop_model, field)
    if plain != laptop:
        print(f"{field}: plain {plain}, laptop {laptop}")
print(
    "training settings equal:",
    PRESETS["plain"].train == PRESETS["laptop"].train,
)

# %% [markdown]
# A `Config` is immutable; `replace` makes a changed copy. For the live run we keep the
# architecture of the preset and shorten the training: a few epochs of a few sequences. We also
# switch off the preset's weight average (`ema_decay`, below): it averages over about the last
# 100 steps, and a run of a few dozen would mostly remember its first ones.

# %%
config = PRESETS[PRESET].replace(
    train={
        "epochs": EPOCHS,
        "num_train": NUM_TRAIN,
        "num_val": NUM_VAL,
        "ema_decay": 0.0,
    }
)
t = config.train
print(
    f"{PRESET}: {t.epochs} epochs of {t.num_train} sequences "
    f"({t.num_frames} frames each),\n"
    f"batch {t.batch_size}, {t.num_val} validation sequences"
)

# %% [markdown]
# ## A training loop, written out
#
# Before the library does it for us, here is training in full. In PyTorch it is a loop we
# write ourselves: for every batch, a forward pass, the loss, `backward()` for the gradients and
# an optimiser step; after every epoch, a pass over the validation videos without gradients.
# The training and validation videos are the ones the library's `fit` draws for this config
# in its first epoch (`fit` draws fresh training videos every epoch; this loop reuses them).

# %%
train_videos = data.training_sequences(config.train, "train")
val_videos = data.training_sequences(config.train, "val")


def inputs_and_targets(videos: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Numpy videos (N, T, H, W, C) -> PyTorch's (N, T, C, H, W):
    all frames but the last as inputs, all but the first as targets."""
    frames = torch_backend.to_tensor(videos)
    return frames[:, :-1], frames[:, 1:]


torch.manual_seed(config.train.seed)
net = torch_backend.build_model(config.model)
optimizer = torch.optim.Adam(net.parameters(), lr=config.train.learning_rate)
batch_size = config.train.batch_size
for epoch in range(1, config.train.epochs + 1):
    net.train()
    order = np.random.default_rng(epoch).permutation(len(train_videos))
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        x, y = inputs_and_targets(train_videos[batch])
        loss = torch_backend.bce_loss(net(x), y)  # forward pass and loss
        optimizer.zero_grad()
        loss.backward()  # gradients of the loss for every weight
        optimizer.step()  # Adam moves the weights against them
    net.eval()
    with torch.no_grad():  # validation: no gradients, no updates
        x, y = inputs_and_targets(val_videos)
        predicted = net(x)
        val_loss = torch_backend.bce_loss(predicted, y).item()
    val_guesses = torch_backend.to_numpy(predicted)
    val_ssim = metrics.ssim(val_videos[:, 1:], val_guesses).mean()
    print(
        f"epoch {epoch}: last batch loss {loss.item():.4f}, "
        f"val_loss {val_loss:.4f}, val SSIM {val_ssim:.3f}"
    )

# %% [markdown]
# In Keras the loop is built in: `compile` names the optimiser and the loss, and `fit` runs the
# epochs, with *callbacks* for what happens between them. Two that matter here lower the
# learning rate when the validation loss stalls and stop training when it stops improving.

# %%
keras_net = keras_backend.build_model(
    config.model, image_size=config.train.image_size
)
keras_net.compile(
    optimizer=keras.optimizers.Adam(config.train.learning_rate),
    loss="binary_crossentropy",
)
callbacks = [
    keras.callbacks.ReduceLROnPlateau(
        patience=config.train.lr_patience, factor=config.train.lr_factor
    ),
    keras.callbacks.EarlyStopping(
        patience=config.train.early_stopping_patience
    ),
]
keras_log = keras_net.fit(
    # inputs: all frames but the last, channels-last as Keras likes them
    train_videos[:, :-1],
    train_videos[:, 1:],  # targets: all frames but the first
    batch_size=batch_size,
    epochs=config.train.epochs,
    validation_data=(val_videos[:, :-1], val_videos[:, 1:]),
    callbacks=callbacks,
    verbose=0,
)
for key, values in keras_log.history.items():
    print(f"{key:<14}", [round(v, 4) for v in values])

# %% [markdown]
# That is all training is. What a real run adds is care: the same random numbers in both
# frameworks, fresh videos every epoch, a checkpoint after every epoch that a crash cannot
# corrupt, resuming exactly where a run stopped, the SSIM beside the loss, a finishing loss, a
# moving average of the weights and bfloat16 where the CPU has it. `torch_backend.fit` and
# `keras_backend.fit` are these two loops with that care added.
#
# ## Training live, in both frameworks
#
# `torch_backend.fit(config, out_dir)` and `keras_backend.fit(config, out_dir)` take the same
# config and return the same history: one list per logged value, one entry per epoch. The
# PyTorch one is the loop above with all of that; the Keras one calls Keras' own
# `model.fit` with callbacks.
# After every epoch both score the validation
# sequences (teacher-forced, like training) and report the validation loss, the pixel MSE and
# the SSIM (structural similarity, 1 for a perfect frame; the chapter [Rollout and
# evaluation](05_rollout_evaluation.ipynb) explains it).
#
# Each run writes into its own temporary directory. First PyTorch:

# %%
workdir = Path(tempfile.mkdtemp(prefix="nfp-training-"))
torch_dir, keras_dir = workdir / "torch", workdir / "keras"
torch_history = torch_backend.fit(config, torch_dir, progress=PROGRESS)
viz.plot_history(torch_history, keys=["loss", "val_loss", "val_ssim"])

# %% [markdown]
# Then Keras, with the same configuration:

# %%
keras_history = keras_backend.fit(config, keras_dir, progress=PROGRESS)
viz.plot_history(keras_history, keys=["loss", "val_loss", "val_ssim"])

# %% [markdown]
# The last epoch of each, with the two baselines on the same validation videos: copying the frame
# before, and a blank frame (`time` is the seconds the epoch took, validation included). Both
# train in bfloat16 where their backend computes it natively (`mixed_precision`: PyTorch's
# autocast, Keras' `mixed_bfloat16` ConvLSTM layers) and validate in float32; the last row says
# which precision each used here. Both share this machine with whatever else runs on it.

# %%
truth, before = val_videos[:, 1:], val_videos[:, :-1]
baselines = {  # next-frame scores of copying the frame before, and of black
    "val_mse": (metrics.mse(truth, before).mean(), np.mean(truth**2)),
    "val_ssim": (
        metrics.ssim(truth, before).mean(),
        metrics.ssim(truth, np.zeros_like(truth)).mean(),
    ),
}
rows = ["loss", "val_loss", "val_mse", "val_ssim", "learning_rate", "time (s)"]
table = [
    f"| after epoch {EPOCHS} | PyTorch | Keras | copy last | blank |",
    "|---|---:|---:|---:|---:|",
]
for row in rows:
    key = row.removesuffix(" (s)")
    cells = [torch_history[key][-1], keras_history[key][-1]]
    cells += baselines.get(key, ())
    text = " | ".join(f"{v:.4f}" for v in cells)
    table.append(f"| {row} | {text} |" + " |" * (4 - len(cells)))
mixed = config.train.mixed_precision
torch_bf16 = mixed and torch_backend.bf16_native(torch.device("cpu"))
keras_bf16 = mixed and keras_backend.bf16_native()
torch_precision = "bfloat16 autocast" if torch_bf16 else "float32"
keras_precision = "mixed_bfloat16" if keras_bf16 else "float32"
table.append(f"| precision | {torch_precision} | {keras_precision} | | |")
display(Markdown("\n".join(table)))

# %% [markdown]
# The two frameworks train on the same sequences and initialise their weights the same way
# (Keras' scheme), but from different random numbers, so the numbers differ: this early in
# training, where a run happens to be on its way down matters more than the framework.

# %% tags=["hide-input"]
(copy_mse, blank_mse), (_, blank_ssim) = baselines.values()
torch_mse, torch_ssim = (
    torch_history["val_mse"][-1],
    torch_history["val_ssim"][-1],
)
mse_verdict = "edges past" if torch_mse < min(copy_mse, blank_mse) else "trails"
ssim_verdict = "above" if torch_ssim > blank_ssim else "below"
display(
    Markdown(f"""
The PyTorch model's validation MSE, {torch_mse:.4f}, {mse_verdict} copying the
frame before ({copy_mse:.4f}) and a blank frame ({blank_mse:.4f}); its SSIM,
{torch_ssim:.3f}, is {ssim_verdict} the blank frame's {blank_ssim:.3f}. Here is
what it predicts after its short training,
one step ahead from true frames (`torch_backend.load_checkpoint` reads the
checkpoint `fit` wrote):
""")
)

# %%
live_model, _, _ = torch_backend.load_checkpoint(torch_dir / "model.pt")
example = data.generate_moving_mnist(
    1, num_frames=config.train.num_frames, seed=3
)
one_step = torch_backend.predict_next(live_model, example)
viz.plot_comparison(
    example[0, 1:],
    one_step[0],
    context=example[0, :1],
    max_frames=6,
    title="after the live run",
)

# %% [markdown]
# A few short epochs do not get far: a pixel head first learns the overall brightness of a
# frame, a faint haze everywhere, and SSIM punishes haze where the truth is black, which is
# most of the frame. The shipped models at the end of this chapter trained for much longer.

# %% [markdown]
# ## What happens besides the optimiser step
#
# Both `fit` functions do the same bookkeeping after every epoch, driven by the `TrainConfig`:
#
# - **ReduceLROnPlateau**: when the validation loss has not improved for `lr_patience` epochs,
#   the learning rate is multiplied by `lr_factor` (PyTorch's
#   `torch.optim.lr_scheduler.ReduceLROnPlateau`, Keras' `keras.callbacks.ReduceLROnPlateau`).
#   Smaller steps let the model settle into a minimum it was jumping over.
# - **EarlyStopping**: when the validation loss has not improved for `early_stopping_patience`
#   epochs, training stops, because more epochs would only cost time.
# - **A finishing loss** (`finish_loss`, `finish_from`): from epoch `finish_from` on, the model
#   trains with `finish_loss` instead of `loss`. The `laptop` preset learns the motion with BCE
#   and spends its last three epochs sharpening it with L1 (see *The objective*). The
#   validation loss then measures the new loss, so the plateau and early-stopping records
#   start afresh.
# - **A moving average of the weights** (`ema_decay`): after every step the average moves
#   `1 - ema_decay` of the way toward the current weights, and the average is what gets
#   validated and saved (Keras' optimizers offer the same as `use_ema`). At a high learning
#   rate the weights jitter around a good solution; their average sits closer to its middle.
#   Training itself goes on from the unaveraged weights, which the checkpoint keeps as well
#   (`train_weights` in `model.pt`, `train_weights.npz` beside `model.keras`).
# - **A checkpoint every epoch**: the model, the optimiser state, the history and everything
#   else needed to continue (the learning-rate and early-stopping counters; in PyTorch also the
#   random state). All files of an epoch are written into a new folder `epochs/N`, flushed to
#   disk, and only then does a one-line file, `latest`, switch to it, by a rename, which is
#   all-or-nothing. A crash, Ctrl-C or full disk mid-save leaves the previous epoch whole, and
#   resuming reads only the epoch `latest` names, so a run is never half one epoch and half
#   another. A lock keeps a second training out of the folder while one runs, and training into
#   a folder that already holds a run is refused unless you ask to resume it or to move it aside
#   (`--resume`, `--overwrite` on the command line).
#
# Here is what the two runs left on disk: the committed epoch in `epochs/`, the `latest`
# pointer, and beside them copies of that epoch's files for you to open: `config.json` (the
# `Config`), `history.json`, and the model with its training state (`model.pt` for PyTorch,
# which also keeps the weights of its best epoch in `best.pt`; `model.keras` for Keras).

# %%
for run in (torch_dir, keras_dir):
    for path in sorted(p for p in run.rglob("*") if p.is_file()):
        name = str(path.relative_to(workdir))
        print(f"{name:<30} {path.stat().st_size:>10,} bytes")

# %% [markdown]
# ## Resuming
#
# Because the checkpoint holds the whole training state, `fit(..., resume=True)` continues a
# run where it stopped, with the same optimiser moments, learning rate, early-stopping
# counters and random numbers: an interrupted run ends exactly as an uninterrupted one would.
# `epochs` is the total number of epochs, so to train one more epoch we raise it by one:

# %%
longer = config.replace(train={"epochs": EPOCHS + 1})
resumed_history = torch_backend.fit(
    longer, torch_dir, resume=True, progress=PROGRESS
)
print("epochs before:", torch_history["epoch"])
print("epochs after: ", resumed_history["epoch"])
for key in ("loss", "val_loss"):
    assert resumed_history[key][:EPOCHS] == torch_history[key], key
print(f"the first {EPOCHS} entries are unchanged:")
print("the history continues where it stopped")
viz.plot_history(resumed_history, keys=["loss", "val_loss", "val_ssim"])

# %% [markdown]
# Keras works the same way (`keras_backend.fit(longer, keras_dir, resume=True)`).

# %%
shutil.rmtree(workdir)  # the live runs are done with

# %% [markdown]
# ## The command line
#
# Notebooks are good for looking; long runs are better in a terminal, where you can leave them
# overnight. `python -m nfp_lib train` calls the same `fit` with a preset (or a JSON file
# written by `Config.to_dict`) and shows progress bars:
#
# ```bash
# python -m nfp_lib train --backend torch --config plain --out runs/plain-torch
# python -m nfp_lib train --backend keras --config plain --out runs/plain-keras
# python -m nfp_lib train --backend torch --config laptop --out runs/laptop
# python -m nfp_lib train --backend keras --config laptop --out runs/laptop-keras
# # interrupted, or want more epochs? Continue it:
# python -m nfp_lib train --backend torch --config laptop --out runs/laptop \
#     --resume --epochs 20
# ```
#
# `--epochs`, `--num-train` and `--batch-size` override the config, and `--device` picks the
# PyTorch device (by default CUDA when there is one). The shipped checkpoints below were made
# with these commands (`laptop-keras` with an earlier version of the preset).

# %% [markdown]
# ## The fully trained models
#
# The book ships checkpoints made with the commands above: `plain-torch` and `plain-keras`
# (the plain ConvLSTM, `--config plain`, in each framework), `laptop-torch` (PyTorch, the
# current `laptop` preset) and `laptop-keras` (Keras, the `laptop` preset as it was before
# bfloat16 made 17 epochs fit in a quarter of an hour: 10 epochs, L1 for the last, no weight
# average; its `config.json` says so).
# `pretrained.list_pretrained()` lists what is installed with one line of description each (the
# cell below prints this chapter's four), and `pretrained.pretrained_history(name)` reads a
# checkpoint's training log.
#
# On a GPU you can instead set `TRAIN_FROM_SCRATCH = True` in the parameters cell: the cell
# below then trains the full-size `FULL_PRESET` model (`convlstm-64`: three ConvLSTM layers of
# 64 filters on the full 64 x 64 frames, 10,000 fresh sequences per epoch) in PyTorch and shows
# its curves. On CUDA, `fit` turns on two speed-ups by itself: **mixed precision** (the
# forward pass runs in bfloat16 under `torch.autocast`, while the weights, the loss and the
# optimiser stay in float32; `TrainConfig.mixed_precision=False` turns it off; it does the same
# on a CPU with native bfloat16) and **channels-last** memory layout for the convolutions,
# which is what the GPU's tensor cores like. If the Colab session dies, run the cell again: it
# resumes from `FULL_RUN_DIR`. To study the result in the next chapters, set their `CHECKPOINT`
# parameter to that folder.

# %%
if TRAIN_FROM_SCRATCH:
    run_dir = Path(FULL_RUN_DIR)
    full_history = torch_backend.fit(
        PRESETS[FULL_PRESET], run_dir, resume=(run_dir / "model.pt").is_file()
    )
    display(viz.plot_history(full_history))
shipped = pretrained.list_pretrained()
CHAPTER_MODELS = ("plain-torch", "plain-keras", "laptop-torch", "laptop-keras")
print(f"{len(shipped)} shipped checkpoints; this chapter's:")
for name in CHAPTER_MODELS:
    if name not in shipped:
        continue
    summary = shipped[name]
    print(name)
    print(
        textwrap.fill(summary, 80, initial_indent="  ", subsequent_indent="  ")
    )

# %% [markdown]
# For each shipped model: what it is, how it was trained, and its training curves (its README
# in `pretrained.pretrained_dir(name)` tells the rest).

# %%
for name in CHAPTER_MODELS:
    if name not in shipped:
        print(f"{name}: not installed; skipped")
        continue
    t = pretrained.pretrained_config(name).train
    curves = pretrained.pretrained_history(name)
    print(textwrap.fill(f"{name}: {shipped[name]}", 80, subsequent_indent="  "))
    losses = (
        f"{t.loss}, then {t.finish_loss} from epoch {t.finish_from}"
        if t.finish_from
        else t.loss
    )
    fresh = "fresh " if t.fresh_data else ""
    print(
        f"  {len(curves['epoch'])} epochs of {t.num_train} {fresh}sequences, "
        f"batch {t.batch_size},\n"
        f"  learning rate {t.learning_rate}, loss {losses}\n"
    )
    fig = viz.plot_history(curves, keys=["loss", "val_loss", "val_ssim"])
    fig.suptitle(f"{name}: training curves")
    if t.finish_from:  # where the loss changes (BCE to L1), its values jump
        for ax in fig.axes:
            ax.axvline(t.finish_from - 0.5, color="gray", linestyle=":")
    display(fig)

# %% [markdown]
# Things to look for in these curves: the training and validation losses stay close (fresh
# data every epoch leaves nothing to overfit), and the validation SSIM climbs as the digits
# sharpen. The dotted line marks the switch from BCE to L1 (`finish_from`): the loss values
# drop there because L1 is another scale, not because the model got better at once, while the
# SSIM, which does not depend on the loss, jumps up as L1 sharpens the predictions.

# %% [markdown]
# ## Summary
#
# - BCE and MSE are lowest for the average of the possible next frames (a blur), L1 for their
#   per-pixel median (sharper, but black where the model is unsure). Training feeds the model
#   the true frames (teacher forcing).
# - One `Config` drives both frameworks. `fit` checkpoints every epoch as one atomic commit,
#   refuses to overwrite a run, and resumes exactly where a run stopped.
# - The plain ConvLSTM is trained first; the `laptop` preset differs from it in the head alone.
#
# ## Exercises
#
# 1. Train the live model once with `loss="l1"` and once with the default BCE for the same
#    epochs, and compare the validation SSIM and the predictions.
# 2. Start a run on the command line, stop it with Ctrl-C after an epoch, resume it with
#    `--resume`, and compare its `history.json` with a run that was never stopped.
# 3. Set `PRESET = "laptop"` and compare its first epoch with the plain model's: which head
#    starts better, and why (see the untrained model at the end of
#    [A ConvLSTM in PyTorch](02_convlstm_pytorch.ipynb))?
#
# ## What's next
#
# A low validation loss means good *one-step* predictions from true frames. The real test is
# harder: continue a video for ten frames with nothing but the model's own predictions. The
# next chapter, [Rollout and evaluation](05_rollout_evaluation.ipynb), does that and measures how
# the predictions degrade.
