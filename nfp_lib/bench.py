"""Benchmarks: train-step time and peak memory, and rollout time, for the book's models.

Cases (each runs in its own process so peak memory is its own):
- ``keras-io/keras``: the keras-io example model in stock Keras (the configured backend, by
  default torch), and ``keras-io/keras-jax``: the same on Keras' JAX backend;
- ``laptop/keras`` and ``laptop/keras-jax``: the ``laptop`` preset in Keras on each backend;
- ``keras-io/torch``: our PyTorch model with exactly that architecture;
- ``laptop/torch``: our fast configuration (the ``laptop`` preset: 4x4 patches, a motion head);
- on CUDA only, ``keras-io/torch-fast``: the keras-io architecture with the fast training step
  (bf16 autocast, channels-last, the whole step replayed as a CUDA graph), and
  ``keras-io/torch-compiled``: the same plus ``torch.compile`` (see ``torch_backend.fast``).
Every case trains on batches of 5 sequences (``batch``) of 19 input frames (64x64) and rolls out
10 frames after 10 seen ones. ``rollout_speedup`` compares, for one causal PyTorch model, the
keras-io style re-run (the whole growing sequence for every new frame) with the O(T) rollout that
carries state. On a CPU, when every case runs, :func:`cpu_throughput` adds the CPU's name and flags
and float32 training throughput (eager against fast, timed in turns in one process) and
evaluation speed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from nfp_lib.config import PRESETS, ModelConfig, head_channels
from nfp_lib.stored import RESULTS_DIR
from nfp_lib.validation import check_positive_int

# name -> (backend, model, training step: "plain", or on CUDA "fast" / "compiled"); the backend
# "keras" is Keras on KERAS_BACKEND (default torch), "keras-jax" Keras on JAX.
CASES = {
    "keras-io/keras": ("keras", PRESETS["keras-io"].model, "plain"),
    "keras-io/keras-jax": ("keras-jax", PRESETS["keras-io"].model, "plain"),
    "laptop/keras": ("keras", PRESETS["laptop"].model, "plain"),
    "laptop/keras-jax": ("keras-jax", PRESETS["laptop"].model, "plain"),
    "keras-io/torch": ("torch", PRESETS["keras-io"].model, "plain"),
    "laptop/torch": ("torch", PRESETS["laptop"].model, "plain"),
    "keras-io/torch-fast": ("torch", PRESETS["keras-io"].model, "fast"),
    "keras-io/torch-compiled": ("torch", PRESETS["keras-io"].model, "compiled"),
}
BATCH, FRAMES, SIZE, CONTEXT, HORIZON = 5, 20, 64, 10, 10


def stored_benchmark(name: str = "cpu") -> dict:
    """A benchmark result shipped with the package: ``results/bench-<name>.json``.

    Each was written by ``python -m nfp_lib bench --json`` (see the file's ``command`` key).
    """
    path = RESULTS_DIR / f"bench-{name}.json"
    if not path.is_file():
        found = sorted(p.stem.removeprefix("bench-") for p in RESULTS_DIR.glob("bench-*.json"))
        raise ValueError(f"benchmark: expected one of {found}, got {name!r}")
    return json.loads(path.read_text())


def run_benchmarks(
    device: str = "cpu",
    steps: int = 2,
    cases: list[str] | None = None,
    size: int = SIZE,
    batch: int = BATCH,
) -> dict:
    """Run the chosen cases (default: all) in subprocesses and the rollout comparison here.

    Returns a JSON-ready dict: ``device``, ``batch``, ``frames``, ``size``, ``cases`` (name ->
    ``train_step_s``, ``peak_memory_mb``, ``rollout_s``, ``rollout_method``, ``parameters``),
    ``rollout_rerun_s``, ``rollout_ot_s`` and ``rollout_speedup`` (re-run time / O(T) time), and
    ``threads`` (PyTorch's CPU threads) and ``load_average`` (the machine's one-minute load at
    the end: other work skews timings); on a CPU also ``cpu`` (:func:`cpu_info`), and without
    ``cases`` :func:`cpu_throughput`'s ``training`` and ``evaluation`` too.
    """
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}")
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device: cuda is not available on this machine")
    batch = check_positive_int(batch, "batch")
    steps = check_positive_int(steps, "steps")
    names = cases or [
        name
        for name, (backend, _, variant) in CASES.items()
        if (device == "cuda" or variant == "plain")
        and (backend != "keras-jax" or importlib.util.find_spec("jax"))
    ]
    unknown = set(names) - set(CASES)
    if unknown:
        raise ValueError(f"cases: expected some of {list(CASES)}, got {sorted(unknown)}")
    cuda_only = [name for name in names if CASES[name][2] != "plain"]
    if device != "cuda" and cuda_only:
        raise ValueError(f"cases: {cuda_only} replay CUDA graphs and need --device cuda")
    results = {name: _in_subprocess(name, device, steps, size, batch) for name in names}
    rerun, ot = time_rollouts(PRESETS["convlstm-64"].model, device, size)
    # on a CPU: the CPU itself, and without cases the throughput too (its keys include "cpu")
    on_cpu = ({"cpu": cpu_info()} if cases else cpu_throughput()) if device == "cpu" else {}
    return {
        **on_cpu,
        "device": _device_name(device),
        "threads": _threads(),
        "load_average": os.getloadavg()[0],
        "batch": batch,
        "frames": FRAMES - 1,
        "size": size,
        "cases": results,
        "rollout_rerun_s": rerun,
        "rollout_ot_s": ot,
        "rollout_speedup": rerun / ot,
    }


def convlstm_macs(config: ModelConfig, size: int = SIZE) -> int:
    """Multiply-adds per frame of the ConvLSTM layers of ``config`` on ``size`` x ``size`` frames.

    Each layer's gate convolution does ``k * k * (C + F) * 4F`` of them per grid cell (C input
    channels, F filters), on a grid ``patch_size`` times coarser than the frame.
    """
    cells = (size // config.patch_size) ** 2
    channels = config.channels * config.patch_size**2
    total = 0
    for filters, k in zip(config.filters, config.kernel_sizes, strict=True):
        total += cells * k * k * (channels + filters) * 4 * filters
        channels = filters
    return total


def model_macs(config: ModelConfig, size: int = SIZE) -> int:
    """Multiply-adds per predicted frame of the whole model: the ConvLSTM layers
    (:func:`convlstm_macs`), the head's convolution and, with a motion head, its dynamic filters
    (``K * K`` per pixel and channel for each kernel: one, or ``motion_masks``); four times that
    with ``mirror_average``, which predicts from four passes (training runs one)."""
    cells = (size // config.patch_size) ** 2
    taps = config.head_kernel_size**2 if config.head == "conv2d" else 27  # 3x3x3 for conv3d
    head = cells * config.filters[-1] * head_channels(config) * taps
    kernels = max(config.motion_masks, 1) if config.motion_kernel else 0
    moves = kernels * size * size * config.channels * config.motion_kernel**2
    passes = 4 if config.mirror_average else 1
    return passes * (convlstm_macs(config, size) + head + moves)


def train_step_flops(
    config: ModelConfig, batch: int = BATCH, frames: int = FRAMES - 1, size: int = SIZE
) -> float:
    """Floating-point operations of one training step's ConvLSTM convolutions (an estimate).

    :func:`convlstm_macs` per frame; a multiply-add is 2 operations, and the backward pass costs
    about twice the forward. Heads, norms and the gate arithmetic are left out.
    """
    return 2.0 * 3 * convlstm_macs(config, size) * frames * batch


def time_rollouts(config: ModelConfig, device: str, size: int = SIZE) -> tuple[float, float]:
    """Seconds for the re-run and for the O(T) rollout of one PyTorch model, same input."""
    from nfp_lib import torch_backend

    model = torch_backend.build_model(config).to(device).eval()
    context = _video(CONTEXT, size)
    torch_backend.rollout(model, context, 1, device=device)  # warm-up
    rerun = _timed(lambda: torch_backend.rollout_rerun(model, context, HORIZON, device=device))
    ot = _timed(lambda: torch_backend.rollout(model, context, HORIZON, device=device))
    return rerun, ot


def bench_case(
    name: str, device: str = "cpu", steps: int = 2, size: int = SIZE, batch: int = BATCH
) -> dict:
    """Time one case's training step on ``batch`` sequences, in this process: see :data:`CASES`."""
    backend, config, variant = CASES[name]
    video = _video(FRAMES, size, check_positive_int(batch, "batch"))
    x, y = video[:, :-1], video[:, 1:]
    if backend.startswith("keras"):
        step, rollout, params = _keras_case(config, x, y, size)
    else:
        step, rollout, params = _torch_case(config, x, y, device, variant)
    step()  # warm-up: allocation, autotuning, compilation
    step_s = min(_timed(step) for _ in range(steps))
    rollout_s = _timed(rollout)
    return {
        "train_step_s": step_s,
        "peak_memory_mb": _peak_memory_mb(device),
        "rollout_s": rollout_s,
        "rollout_method": "re-run" if config.head == "conv3d" else "O(T)",
        "parameters": params,
    }


def format_table(results: dict) -> str:
    """A plain-text table of :func:`run_benchmarks`' result."""
    res, size = results, results["size"]
    lines = [
        f"device: {res['device']}, {res['threads']} thread(s), load {res['load_average']:.1f}; "
        f"batch {res['batch']} x {res['frames']} frames of {size}x{size}",
        f"{'case':<24} {'params':>9} {'train step':>11} {'peak MB':>9} {'rollout 10':>11}",
    ]
    for name, r in results["cases"].items():
        lines.append(
            f"{name:<24} {r['parameters']:>9,} {r['train_step_s'] * 1e3:>9.0f}ms "
            f"{r['peak_memory_mb']:>9.0f} {r['rollout_s'] * 1e3:>8.0f}ms ({r['rollout_method']})"
        )
    for name, r in results.get("training", {}).items():
        lines.append(
            f"{name} float32 training, batch {r['batch']}: eager {r['eager_seq_per_s']:.1f}, "
            f"fast {r['fast_seq_per_s']:.1f} sequences/s ({r['speedup']:.2f}x)"
        )
    if "evaluation" in results:
        r = results["evaluation"]
        lines.append(
            f"evaluate {r['checkpoint']}: {r['evaluate_seq_per_s']:.1f} sequences/s, "
            f"{r['speedup']:.2f}x the plain way (model part in one pass "
            f"{r['model_speedup']:.2f}x)"
        )
    lines.append(
        f"rollout of 10 frames after 10 (convlstm-64, torch): re-run "
        f"{results['rollout_rerun_s'] * 1e3:.0f} ms, O(T) {results['rollout_ot_s'] * 1e3:.0f} ms, "
        f"speed-up {results['rollout_speedup']:.1f}x"
    )
    return "\n".join(lines)


def markdown_table(results: dict) -> str:
    """:func:`run_benchmarks`' cases as a Markdown table (milliseconds, megabytes)."""
    rows = [
        "| case | parameters | train step | peak memory | 10-frame rollout |",
        "|---|---|---|---|---|",
    ]
    for name, r in results["cases"].items():
        rows.append(
            f"| {name} | {r['parameters']:,} | {r['train_step_s'] * 1e3:,.1f} ms | "
            f"{r['peak_memory_mb']:,.0f} MB | {r['rollout_s'] * 1e3:,.0f} ms "
            f"({r['rollout_method']}) |"
        )
    return "\n".join(rows)


def _torch_case(config: ModelConfig, x: np.ndarray, y: np.ndarray, device: str, variant: str):
    import torch

    from nfp_lib import torch_backend
    from nfp_lib.torch_backend import fast

    torch.manual_seed(0)
    model = torch_backend.build_model(config).to(device).train()
    xt, yt = torch_backend.to_tensor(x, device), torch_backend.to_tensor(y, device)
    bce = torch.nn.functional.binary_cross_entropy
    if variant == "plain":
        optimizer = torch.optim.Adam(model.parameters())
        one_step = fast.train_step(model, optimizer, bce, xt, yt, bf16=False, cuda_graph=False)
    else:
        fast.channels_last_(model)
        optimizer = torch.optim.Adam(model.parameters(), capturable=True)
        one_step = fast.train_step(
            model, optimizer, bce, xt, yt, compile_model=variant == "compiled"
        )

    def step():
        one_step(xt, yt)
        if device == "cuda":
            torch.cuda.synchronize()

    roll = torch_backend.rollout if config.causal else torch_backend.rollout_rerun

    def rollout():
        roll(model.eval(), x[:, :CONTEXT], HORIZON, device=device)

    return step, rollout, sum(p.numel() for p in model.parameters())


def _keras_case(config: ModelConfig, x: np.ndarray, y: np.ndarray, size: int):
    from nfp_lib import keras_backend

    model = keras_backend.build_model(config, image_size=size)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    roll = keras_backend.rollout if config.causal else keras_backend.rollout_rerun

    def step():
        model.train_on_batch(x, y)

    def rollout():
        roll(model, x[:, :CONTEXT], HORIZON)

    return step, rollout, int(model.count_params())


# Throughput on a CPU: float32 training, the plain eager step against the fast one, and evaluation.
THROUGHPUT_PRESETS = ("laptop", "keras-io")
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_info() -> dict:
    """The CPU: ``model`` (its name), ``family`` and ``model_number`` (x86's ``cpu family`` and
    ``model``, which tell e.g. AMD Zen 2 (23, 49) from Zen 3 (25, 1) where a virtual machine names
    only "AMD EPYC"; ``None`` where unknown), ``cores``, PyTorch's ``threads``, which of
    :data:`CPU_FLAGS` it has, and ``bf16_native`` (whether bf16 autocast is fast on it)."""
    import torch

    from nfp_lib.torch_backend import bf16_native

    try:
        fields = parse_cpuinfo(Path("/proc/cpuinfo").read_text())
    except OSError:  # not Linux
        fields = {}
    flags = set(fields.get("flags", "").split())
    family, number = fields.get("cpu family", ""), fields.get("model", "")
    known = family.isdigit() and number.isdigit()  # x86
    return {
        "model": fields.get("model name") or platform.processor() or "unknown",
        "family": int(family) if known else None,
        "model_number": int(number) if known else None,
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "flags": [flag for flag in CPU_FLAGS if flag in flags],
        "bf16_native": bf16_native(torch.device("cpu")),
    }


def parse_cpuinfo(text: str) -> dict[str, str]:
    """The first processor's ``key: value`` lines of a Linux ``/proc/cpuinfo``."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() and fields:
            break
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def training_throughput(preset: str, repeats: int = 5, size: int = SIZE) -> dict:
    """Sequences per second of float32 training steps of ``preset``'s model at its batch size
    on 19 frames, on the CPU: the plain eager step and the fast one :func:`~nfp_lib.torch_backend.
    fit` takes (the batch in slices, one per thread, where the model has no batch norm), timed
    in turns in this process after a warm-up each; medians of ``repeats``. Where the fast step
    is the eager one (``fast_slices`` 1: batch norm) it is timed once.

    Returns ``batch``, ``fast_slices``, ``eager_seq_per_s``, ``fast_seq_per_s``, ``speedup``
    and every step's seconds (``eager_step_s``, ``fast_step_s``).
    """
    import torch

    from nfp_lib import torch_backend
    from nfp_lib.torch_backend import fast
    from nfp_lib.torch_backend.parallel import thread_slices
    from nfp_lib.torch_backend.train import training_workers

    config = PRESETS[preset]
    batch, cpu = config.train.batch_size, torch.device("cpu")
    video = torch_backend.to_tensor(_video(FRAMES, size, batch))
    x, y = video[:, :-1], video[:, 1:]
    with thread_slices():
        slices = training_workers(config, cpu)
    steps = {}
    for variant, threads in (("eager", 1), ("fast", slices))[: 1 + (slices > 1)]:
        torch.manual_seed(0)
        model = torch_backend.build_model(config.model).train()
        optimizer = torch.optim.Adam(model.parameters())
        steps[variant] = fast.train_step(
            model, optimizer, torch_backend.bce_loss, x, y, False, cuda_graph=False, threads=threads
        )
    times = {variant: [] for variant in steps}
    for i in range(check_positive_int(repeats, "repeats") + 1):
        for variant, step in steps.items():
            seconds = _timed(lambda step=step: step(x, y))
            if i:  # the first of each is the warm-up
                times[variant].append(seconds)
    times.setdefault("fast", times["eager"])
    eager, quick = (statistics.median(times[v]) for v in ("eager", "fast"))
    return {
        "batch": batch,
        "fast_slices": slices,
        "eager_seq_per_s": batch / eager,
        "fast_seq_per_s": batch / quick,
        "speedup": eager / quick,
        "eager_step_s": times["eager"],
        "fast_step_s": times["fast"],
    }


def evaluation_speed(
    checkpoint: str = "laptop-torch", sequences: int = 500, repeats: int = 3
) -> dict:
    """Sequences per second of :func:`~nfp_lib.evaluate.evaluate` (20 frames: 10 seen, 10
    predicted) of a shipped PyTorch checkpoint on the CPU, against the same work done the plain
    way (:func:`plain_evaluation`), and of the model part alone: one pass
    (``predict_and_rollout``) against two (``predict_next``, then ``rollout``). In turns after
    a warm-up, medians of ``repeats``."""
    from nfp_lib.evaluate import evaluate, predict_future
    from nfp_lib.pretrained import load_pretrained
    from nfp_lib.torch_backend import predict_and_rollout, predict_next

    model, _ = load_pretrained(checkpoint)
    video = _video(FRAMES, SIZE, check_positive_int(sequences, "sequences"))

    def model_two_passes():
        predict_next(model, video)
        predict_future(model, video[:, :CONTEXT], HORIZON)

    cases = {
        "evaluate": lambda: evaluate(model, video),
        "plain": lambda: plain_evaluation(model, video),
        "model_one_pass": lambda: predict_and_rollout(model, video, CONTEXT, HORIZON),
        "model_two_passes": model_two_passes,
    }
    evaluate(model, video[:2])  # warm-up
    times = {name: [] for name in cases}
    for _ in range(check_positive_int(repeats, "repeats")):
        for name, case in cases.items():
            times[name].append(_timed(case))
    seconds = {name: statistics.median(t) for name, t in times.items()}
    return {
        "checkpoint": checkpoint,
        "sequences": sequences,
        **{f"{name}_seq_per_s": sequences / s for name, s in seconds.items()},
        "speedup": seconds["plain"] / seconds["evaluate"],
        "model_speedup": seconds["model_two_passes"] / seconds["model_one_pass"],
        "evaluate_s": times["evaluate"],
        "plain_s": times["plain"],
    }


def plain_evaluation(model: object, video: np.ndarray) -> None:
    """What :func:`~nfp_lib.evaluate.evaluate` computes, done the plain way: the teacher-forced
    predictions and the rollout in two passes through the model, then every metric on its own
    (each converting and walking the data again) for the model and both baselines."""
    from nfp_lib import metrics
    from nfp_lib.evaluate import blank_frame, copy_last_frame, predict_future
    from nfp_lib.torch_backend import predict_next

    seen, future = video[:, :CONTEXT], video[:, CONTEXT : CONTEXT + HORIZON]
    forecasts = (
        (video[:, 1:], predict_next(model, video)),
        (future, predict_future(model, seen, HORIZON)),
        (future, copy_last_frame(seen, HORIZON)),
        (future, blank_frame(seen, HORIZON)),
    )
    for truth, pred in forecasts:
        for name in metrics.FRAME_METRICS:
            getattr(metrics, name)(truth, pred)


def cpu_throughput(repeats: int = 5, sequences: int = 500) -> dict:
    """:func:`cpu_info`, :func:`training_throughput` of every preset in
    :data:`THROUGHPUT_PRESETS` and :func:`evaluation_speed`, in one process."""
    return {
        "cpu": cpu_info(),
        "training": {name: training_throughput(name, repeats) for name in THROUGHPUT_PRESETS},
        "evaluation": evaluation_speed(sequences=sequences, repeats=max(1, repeats // 2)),
    }


def _in_subprocess(name: str, device: str, steps: int, size: int, batch: int) -> dict:
    code = (
        "import json, sys; from nfp_lib.bench import bench_case; "
        f"print(json.dumps(bench_case({name!r}, {device!r}, {steps}, {size}, {batch})))"
    )
    keras_backend = "jax" if CASES[name][0] == "keras-jax" else os.environ.get("KERAS_BACKEND")
    env = {**os.environ, "KERAS_BACKEND": keras_backend or "torch"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark {name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _video(frames: int, size: int, batch: int = BATCH) -> np.ndarray:
    from nfp_lib.data import generate_moving_mnist

    return generate_moving_mnist(batch, num_frames=frames, size=size, seed=0)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _peak_memory_mb(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _device_name(device: str) -> str:
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name()
    return f"cpu ({os.cpu_count()} cores)"
