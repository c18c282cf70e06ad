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
# # A ConvLSTM in Keras
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nfp-book/nfp/blob/main/notebooks/03_convlstm_keras.ipynb)
#
# The previous chapter wrote the ConvLSTM in plain PyTorch. Keras 3 has it built in, as the
# layer `ConvLSTM2D`, and the keras-io example *Next-Frame Video Prediction with Convolutional
# LSTMs* (Joshi, 2021), where this book started, stacks three of them. In this chapter we build
# the book's model from `ConvLSTM2D` layers, look closely at the keras-io model and measure a
# flaw in it, and move weights between Keras and PyTorch, with predictions that agree to float32
# rounding.
#
# Keras 3 runs on several frameworks (JAX, TensorFlow, PyTorch). Here it runs on PyTorch, so
# both halves of the book share one installation, unless you choose another (see *Choosing a
# backend* below).

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
# The **parameters** cell. The keras-io model works on full-size frames with 64 filters, which is
# slow on a CPU, so this chapter only runs it forward, on short videos. With `NFP_QUICK=1` the
# models that need no trained weights also work on smaller frames.

# %% tags=["parameters"]
import os

QUICK = os.environ.get("NFP_QUICK") == "1"
# frames of the videos used for the measurements
NUM_FRAMES = 6 if QUICK else 10
# frame size of the untrained models (the shipped one uses 64)
IMAGE_SIZE = 32 if QUICK else 64
NUM_EXAMPLES = 2 if QUICK else 4  # videos predicted with the shipped model
CONTEXT = 10  # frames the shipped model sees before it predicts the rest of 20
# seed of the held-out test videos (the evaluation uses the same)
TEST_SEED = 2026
SEED = 0

# %%
os.environ.setdefault("KERAS_BACKEND", "torch")

import textwrap
import time

import keras
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display

from nfp_lib import data, keras_backend, porting, pretrained, torch_backend, viz
from nfp_lib.config import PRESETS

# seeds Python, numpy and the backend (here PyTorch)
keras.utils.set_random_seed(SEED)
print("Keras", keras.__version__, "on", keras.backend.backend())

# %% [markdown]
# **Choosing a backend.** The cell above picks PyTorch only when `KERAS_BACKEND` is unset, and Keras
# reads it once, when first imported: to run this chapter on JAX or TensorFlow (Colab's default),
# set `os.environ["KERAS_BACKEND"] = "jax"` before that import, in a fresh kernel. The library's
# Keras code is tested on all three and agrees with the PyTorch model on each up to float rounding
# (`tests/test_parity.py`; below, this chapter measures it on yours). PyTorch's case is one
# framework for both halves of the book: one install, one set of tools. JAX's case is speed, since
# XLA compiles the whole training step, but that pays on a GPU; on this book's CPU the stored
# benchmark (one float32 training step of the `laptop` model on 5 sequences of 19 frames, each case
# in its own process) shows the opposite:

# %%
from nfp_lib.bench import stored_benchmark

measured = stored_benchmark("cpu-keras")
threads, load = measured["threads"], measured["load_average"]
cores = measured["cpu"]["cores"]
print(
    f"{measured['cpu']['model']}, {cores} cores; float32, {threads} thread(s),"
)
print(f"the machine's load {load:.1f} (1.0 = only this benchmark running)")
for name, case in measured["cases"].items():
    step, memory = case["train_step_s"], case["peak_memory_mb"]
    print(f"{name:<17} step {step:5.2f} s   peak memory {memory:6,.0f} MB")

# %% [markdown]
# ## The `ConvLSTM2D` layer
#
# `keras.layers.ConvLSTM2D(filters, kernel_size, ...)` is the ConvLSTM layer of the previous
# chapter: it runs the cell over the frames of a video. Keras works channels-last, so a batch
# of videos goes in as `(N, T, H, W, C)`, the layout `nfp_lib` uses everywhere, and with
# `return_sequences=True` the hidden state of every step comes out. Its defaults are the cell of
# the previous chapter: `activation="tanh"` for the candidate and the output, sigmoid gates
# (`recurrent_activation="sigmoid"`), the forget gate's bias starting at 1
# (`unit_forget_bias=True`) and no peephole terms.

# %%
videos = data.generate_moving_mnist(
    2, num_frames=NUM_FRAMES, size=IMAGE_SIZE, seed=SEED
)
layer = keras.layers.ConvLSTM2D(8, 3, padding="same", return_sequences=True)
hidden = keras.ops.convert_to_numpy(layer(videos))
print("videos (N, T, H, W, C):", videos.shape)
print("hidden states (N, T, H, W, F):", hidden.shape)
for weight in (layer.cell.kernel, layer.cell.recurrent_kernel, layer.cell.bias):
    print(f"{weight.path:40} {tuple(weight.shape)}")

# %% [markdown]
# Keras keeps the weights in two pieces: a `kernel` applied to the input `(k, k, C, 4F)` and a
# `recurrent_kernel` applied to the hidden state `(k, k, F, 4F)`. The PyTorch cell of the previous
# chapter has one fused convolution over `cat([x, h])`, with weights `(4F, C + F, k, k)`. Same
# numbers, different layout: move the axes to PyTorch's order (output, input, height, width) and
# put the two pieces side by side along the input axis. The gates are in the same order i, f, c, o
# on both sides. Copied into a PyTorch `ConvLSTM` layer, the weights give the same hidden
# states:

# %%
kernel, recurrent = (
    layer.cell.kernel.numpy(),
    layer.cell.recurrent_kernel.numpy(),
)
fused = np.concatenate(
    [kernel.transpose(3, 2, 0, 1), recurrent.transpose(3, 2, 0, 1)], axis=1
)
torch_layer = torch_backend.ConvLSTM(in_channels=1, filters=8, kernel_size=3)
with torch.no_grad():
    torch_layer.cell.conv.weight.copy_(torch.from_numpy(fused))
    torch_layer.cell.conv.bias.copy_(torch.from_numpy(layer.cell.bias.numpy()))
    torch_hidden, _ = torch_layer(torch_backend.to_tensor(videos))
print("fused PyTorch weight:", fused.shape)
print(
    "max |Keras - PyTorch|:",
    np.abs(hidden - torch_backend.to_numpy(torch_hidden)).max(),
)

# %% [markdown]
# ## The book's model in Keras
#
# `keras_backend.build_model(config)` builds the next-frame predictor of a `ModelConfig` from
# Keras layers, layer for layer like the PyTorch one: `space_to_depth` cuts the frames into
# patches (a small custom layer, `keras_backend.SpaceToDepth`), `convlstm_0`, `convlstm_1`, ...
# are `ConvLSTM2D` layers, and `head` maps the filters to what the model predicts. Here is the
# "laptop" preset, whose head predicts motion (previous chapter): `head` outputs 11 x 11 = 121
# logits per patch, with no activation, and the layer `motion` (`keras_backend.DynamicFilter`)
# takes two inputs, the model's input `frames` and the head's logits. It turns each patch's
# logits into a kernel with a softmax and filters the input frames with them, as
# `apply_dynamic_filters` does in PyTorch. (For a pixel head, `motion_kernel=0`, `head` ends in
# a sigmoid and a `depth_to_space` layer reassembles the frame from the patches.)

# %%
laptop = PRESETS["laptop"].model
keras_laptop = keras_backend.build_model(laptop, image_size=64)
keras_laptop.summary()

# %% [markdown]
# The last column of the summary shows the two paths into `motion`: the head's logits, and the input
# frames, which skip the whole ConvLSTM stack. Two differences from the PyTorch model. Keras'
# `ConvLSTM2D` needs to know the frame size when the model is built, so a Keras model is built for
# one `image_size` (the number of frames stays free: `None` in the summary). And Keras has no
# per-frame `Conv2d` for a video, so the head is a `Conv3D` whose kernel spans a single frame in
# time, 1 x k x k: each frame is convolved on its own, exactly like the PyTorch head, and the model
# stays causal.

# %%
print(
    "head kernel (time, height, width):",
    keras_laptop.get_layer("head").kernel_size,
)

# %% [markdown]
# ## The keras-io model
#
# The keras-io example builds its model like this (its input has no fixed frame size):
#
# ```python
# inp = layers.Input(shape=(None, *x_train.shape[2:]))
# x = layers.ConvLSTM2D(filters=64, kernel_size=(5, 5), padding="same",
#                       return_sequences=True, activation="relu")(inp)
# x = layers.BatchNormalization()(x)
# x = layers.ConvLSTM2D(filters=64, kernel_size=(3, 3), padding="same",
#                       return_sequences=True, activation="relu")(x)
# x = layers.BatchNormalization()(x)
# x = layers.ConvLSTM2D(filters=64, kernel_size=(1, 1), padding="same",
#                       return_sequences=True, activation="relu")(x)
# x = layers.Conv3D(
#     filters=1, kernel_size=(3, 3, 3), activation="sigmoid", padding="same"
# )(x)
# model = keras.models.Model(inp, x)
# model.compile(
#     loss=keras.losses.binary_crossentropy, optimizer=keras.optimizers.Adam()
# )
# ```
#
# Three ConvLSTM layers of 64 filters on the full frame, with ReLU instead of tanh and batch
# normalisation between them, and a `Conv3D` head. `keras_backend.build_keras_io_model()` builds
# the same network, with the book's layer names; it is the "keras-io" preset.

# %%
keras_io = keras_backend.build_keras_io_model(image_size=IMAGE_SIZE)
keras_io.summary()
print(
    "head kernel (time, height, width):", keras_io.get_layer("head").kernel_size
)

# %% [markdown]
# ### The head sees the answer
#
# The head's kernel is 3 x 3 x 3 with `padding="same"`: in time it spans the frames t - 1, t
# and t + 1. So the output at step t, which is trained to be frame t + 1, is computed from the
# ConvLSTM's state at step t + 1, and that state has just read input frame t + 1: the target
# itself. Only at the last step does the kernel find zero padding instead.
#
# We measure it as in the previous chapter, but more sharply: change a **single** input frame,
# t + 1, and see which outputs move. For a next-frame predictor, output t must not. To compare
# like with like, the second model is the keras-io model with only its head replaced by the
# causal per-frame one (`config.replace` changes one field of a preset). Both have random
# weights; `predict` runs in inference mode, so the batch normalisation is a fixed function.

# %%
keras_io_causal = keras_backend.build_model(
    PRESETS["keras-io"].replace(model={"head": "conv2d"}).model,
    image_size=IMAGE_SIZE,
)
t = NUM_FRAMES // 2 - 1
other = data.generate_moving_mnist(
    1, num_frames=NUM_FRAMES, size=IMAGE_SIZE, seed=SEED + 1
)
tampered = videos[:1].copy()
# a different frame t + 1, everything else the same
tampered[:, t + 1] = other[:, t + 1]


def output_change(model):
    """Largest change of each output step when input frame t + 1 is swapped."""
    before = model.predict(videos[:1], verbose=0)
    after = model.predict(tampered, verbose=0)
    return np.abs(after - before).max(axis=(0, 2, 3, 4))


changes = {
    "keras-io head (3x3x3 Conv3D)": output_change(keras_io),
    "causal head (per-frame)": output_change(keras_io_causal),
}
print(f"output t = {t}, the guess of frame t + 1, changed by")
for name, change in changes.items():
    print(f"  {name:30} {change[t]:.2e}")

fig, axes = plt.subplots(1, 2, figsize=(10, 2.8), sharey=True)
for ax, (name, change) in zip(axes, changes.items(), strict=True):
    ax.bar(range(NUM_FRAMES), change, color="tab:blue")
    ax.bar([t], change[t], color="tab:red")
    ax.axvline(t + 0.5, color="gray", linestyle="--")
    ax.set(title=name, xlabel="output step", xticks=range(NUM_FRAMES))
axes[0].set_ylabel("max |change|")
fig.suptitle(
    f"swapping input frame {t + 1} "
    f"(red: output {t}, its guess; counting from 0)"
)
fig.tight_layout()
plt.show()

# %% [markdown]
# With the keras-io head, output t (red) moves when frame t + 1 changes: the guess for a frame
# depends on that very frame. With the per-frame head it does not move at all, and only the
# outputs after it do, as they should. The outputs before t stay unchanged in both: the leak
# reaches one frame ahead, no further.

# %% [markdown]
# ### What the leak does
#
# **Training looks better than it is.** The example trains on the shifted pairs of the Moving
# MNIST chapter, input frames 1..T-1 and target frames 2..T. For every output but the last,
# the answer is among the inputs the head can see, and gradient descent is happy to use it. To
# see how far that can go, take the head alone, a 3 x 3 x 3 `Conv3D`, and set its kernel by
# hand to 1 on the centre pixel of the *next* frame and 0 elsewhere. This "model" has learned
# nothing about digits or motion; it copies input frame t + 1 to output t.

# %%
cheat = keras.Sequential(
    [
        keras.Input((None, IMAGE_SIZE, IMAGE_SIZE, 1)),
        keras.layers.Conv3D(1, 3, padding="same"),
    ]
)
kernel = np.zeros((3, 3, 3, 1, 1), np.float32)  # (time, height, width, in, out)
kernel[2, 1, 1] = 1.0  # time offset +1, centre pixel
cheat.layers[0].set_weights([kernel, np.zeros(1, np.float32)])

x, y = data.shift_frames(videos)
per_step = ((cheat.predict(x, verbose=0) - y) ** 2).mean(axis=(0, 2, 3, 4))
print("mean squared error per output step:")
print(np.array2string(per_step, precision=4, max_line_width=78))
print(f"training loss (mean over steps): {per_step.mean():.4f}")
print(f"copying the current frame instead: {((x - y) ** 2).mean():.4f}")

# %% [markdown]
# A perfect score on every step but the last, where the kernel finds zero padding and outputs
# black. A trained keras-io model is not this blunt, but its training loss rewards the same
# shortcut, so a low loss from it says little about how well it predicts.
#
# **It cannot predict step by step.** When we really predict, frame t + 1 does not exist yet. A
# model whose output at t needs step t + 1 cannot be run one frame at a time, and the only output
# that does not need a next frame is the last one. So the keras-io example runs the model on the
# frames so far, keeps the last output, appends it and runs the model *again on the whole
# sequence*, once per new frame. That costs O(T²) frame steps instead of O(T), and the frames
# come from the one output position that saw zero padding in training, a situation that made up
# one step in 19 of its training signal. Our cheat shows the extreme case: the last output it
# would feed back is all black.

# %%
last = cheat.predict(videos[:1], verbose=0)[:, -1]
print("largest value of the cheat's last output:", np.abs(last).max())

# %% [markdown]
# The causal model avoids both problems: its training loss is an honest next-frame loss, and its
# state can be carried from frame to frame (`keras_backend.rollout`, O(T)). The library keeps
# the leaky head (`head="conv3d"`) only to show this; the chapter [Rollout and
# evaluation](05_rollout_evaluation.ipynb) comes back to rollouts and their cost.

# %% [markdown]
# ## Moving weights between Keras and PyTorch
#
# The same `ModelConfig` builds the same network in both frameworks, but each framework draws its
# own random initial weights (`nfp_lib`'s PyTorch cell even follows Keras' scheme, Glorot kernels
# and orthogonal recurrent kernels, but with other random numbers), so the two fresh models compute
# different things. `porting.torch_to_keras(torch_model, keras_model)` copies every weight of a
# PyTorch model into the Keras model of the same config, converting the layouts as above;
# `porting.keras_to_torch` goes the other way. Both check every shape before they change anything.
#
# After a copy the two models must predict the same frames. First the laptop model, both ways:


# %%
def torch_predict(model, video):
    """Outputs of a PyTorch model for channels-last numpy videos, as numpy."""
    with torch.no_grad():
        return torch_backend.to_numpy(
            model.eval()(torch_backend.to_tensor(video))
        )


videos64 = data.generate_moving_mnist(
    2, num_frames=NUM_FRAMES, size=64, seed=SEED
)
torch_laptop = torch_backend.build_model(laptop)
before = np.abs(
    keras_laptop.predict(videos64, verbose=0)
    - torch_predict(torch_laptop, videos64)
)
porting.torch_to_keras(torch_laptop, keras_laptop)
after = np.abs(
    keras_laptop.predict(videos64, verbose=0)
    - torch_predict(torch_laptop, videos64)
)
print(
    f"laptop, fresh models:          max |Keras - PyTorch| = {before.max():.2e}"
)
print(
    f"laptop, PyTorch -> Keras:      max |Keras - PyTorch| = {after.max():.2e}"
)

fresh_keras = keras_backend.build_model(laptop, image_size=64)
fresh_torch = porting.keras_to_torch(
    fresh_keras, torch_backend.build_model(laptop)
)
back = np.abs(
    fresh_keras.predict(videos64, verbose=0)
    - torch_predict(fresh_torch, videos64)
)
print(
    f"laptop, Keras -> PyTorch:      max |Keras - PyTorch| = {back.max():.2e}"
)

# %% [markdown]
# After a copy, differences of a few 10⁻⁷, float32 rounding: the two frameworks add the same
# numbers in a different order. The fresh models differ by thousands of times more, yet not by
# much in absolute terms: an untrained motion head outputs nearly the same blur of the input
# frame whatever its random weights (previous chapter).
#
# The keras-io model also has batch normalisation, whose learned scale and shift and running
# mean and variance must travel too. A fresh layer has scale 1, shift 0, mean 0 and variance 1,
# which would pass the test even if they were lost, so we first give the PyTorch model's norms
# random values. Batch normalisation behaves differently while training, so the comparison runs
# both models in inference mode.

# %%
torch_io = torch_backend.build_model(PRESETS["keras-io"].model)
with torch.no_grad():
    for norm in torch_io.norms:
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.1, 0.1)
        norm.running_mean.uniform_(-0.1, 0.1)
        norm.running_var.uniform_(0.5, 2.0)
porting.torch_to_keras(torch_io, keras_io)
gap = np.abs(
    keras_io.predict(videos, verbose=0) - torch_predict(torch_io, videos)
)
print(f"keras-io, PyTorch -> Keras:    max |Keras - PyTorch| = {gap.max():.2e}")
variance = keras_io.get_layer("norm_0").moving_variance.numpy()[:4]
print("moving variance of norm_0 (first 4):", variance.round(3))

# %% [markdown]
# ## A trained model, moved to Keras
#
# `nfp_lib` ships trained weights, so that the book can show real predictions without training
# for hours. `pretrained.list_pretrained()` lists them with a line on each.

# %%
shipped = pretrained.list_pretrained()
for name, summary in shipped.items():
    print(name)
    print(
        textwrap.fill(summary, 80, initial_indent="  ", subsequent_indent="  ")
    )
HAVE_TRAINED = "laptop-torch" in shipped
if not HAVE_TRAINED:
    print("No 'laptop-torch' checkpoint in this copy of nfp_lib:")
    print("the rest of this chapter is skipped.")

# %% [markdown]
# "laptop-torch" is the laptop preset trained with PyTorch. `pretrained.load_pretrained(name)`
# returns the model and the `Config` it was trained with. We build the Keras model of the same
# config, copy the weights across, and ask both for the next frame of some held-out test videos
# (`predict_next` in each backend: numpy in, numpy out, every next frame from the true frames
# before it). Then both predict the last 10 frames of each video from the first 10 alone,
# feeding back their own guesses (`rollout`).

# %%
if HAVE_TRAINED:
    trained_torch, trained_config = pretrained.load_pretrained("laptop-torch")
    size = trained_config.train.image_size
    trained_keras = keras_backend.build_model(
        trained_config.model, image_size=size
    )
    porting.torch_to_keras(trained_torch, trained_keras)

    test = data.generate_moving_mnist(
        NUM_EXAMPLES, num_frames=20, size=size, seed=TEST_SEED
    )
    seen, future = data.split_context(test, context=CONTEXT)
    next_torch = torch_backend.predict_next(trained_torch, test)
    next_keras = keras_backend.predict_next(trained_keras, test)
    start = time.perf_counter()
    rolled_torch = torch_backend.rollout(
        trained_torch, seen, horizon=future.shape[1]
    )
    torch_s = time.perf_counter() - start
    start = time.perf_counter()
    rolled_keras = keras_backend.rollout(
        trained_keras, seen, horizon=future.shape[1]
    )
    keras_s = time.perf_counter() - start
    next_gap = np.abs(next_keras - next_torch).max()
    rollout_gap = np.abs(rolled_keras - rolled_torch).max()
    rollout_mse = np.mean((rolled_keras - future) ** 2)
    print(f"next frame: max |Keras - PyTorch| = {next_gap:.2e}")
    print(f"rollout:    max |Keras - PyTorch| = {rollout_gap:.2e}")
    print("rollout time, both in float32 on this machine:")
    print(f"  PyTorch {torch_s:.2f} s, Keras {keras_s:.2f} s")
    print(f"rollout mean squared error: {rollout_mse:.4f}")
    copy_mse = np.mean((seen[:, -1:] - future) ** 2)
    print(f"  copying the last seen frame: {copy_mse:.4f}")
    print(f"  a blank frame:               {np.mean(future**2):.4f}")

# %% [markdown]
# The Keras copy predicts the same frames as the PyTorch original. Here they are as a film, one
# video per row: the true video on the left, the Keras copy's in the middle (the first 10
# frames are the ones it was shown, the rest its own rollout) and the error on the right.

# %%
if HAVE_TRAINED:
    # seen frames, then predictions
    shown = np.concatenate([seen, rolled_keras], axis=1)
    # a gray line between videos
    bar = np.full((test.shape[1], 2, size, 1), 0.5, np.float32)
    truth_rows = np.concatenate(
        [part for v in test for part in (v, bar)][:-1], axis=1
    )
    pred_rows = np.concatenate(
        [part for v in shown for part in (v, bar)][:-1], axis=1
    )
    gif = viz.comparison_gif(truth_rows, pred_rows, fps=4, seen=seen.shape[1])
    display(viz.show_gif(gif))
else:
    print("(no shipped checkpoint: nothing to show)")

# %% [markdown]
# ## Summary
#
# - Keras 3's `ConvLSTM2D` layers build the same network as the PyTorch model, layer for layer,
#   and weights move between the two (`nfp_lib.porting`) without changing a prediction beyond
#   float rounding.
# - The keras-io example's `Conv3D` head looks one frame ahead in time, so during training it
#   sees the frame it is asked to predict; a per-frame head does not.
#
# ## Exercises
#
# 1. Move a PyTorch model to Keras and back, and check with `np.array_equal` that every weight
#    survived the round trip.
# 2. A `Conv3D` head can be causal too: pad the time axis at the front only
#    (`keras.layers.ZeroPadding3D(((2, 0), (1, 1), (1, 1)))`, then `Conv3D(1, 3)` with the
#    default `padding="valid"`). Put that head on the keras-io stack and repeat the leak
#    measurement.
# 3. Print `keras_model.summary()` and match each Keras layer to a module of the PyTorch model.
#
# ## What's next
#
# So far our models were either untrained or came trained. The next chapter,
# [Training](04_training.ipynb), trains the plain ConvLSTM on a CPU, in both frameworks, and
# shows how the laptop models were trained: losses, optimisers, checkpoints and learning
# curves.
