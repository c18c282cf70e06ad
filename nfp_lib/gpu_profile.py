"""Where a GPU training step's time goes: the keras-io architecture's step, kernel by kernel.

``python -m nfp_lib.gpu_profile --out DIR`` (CUDA only) times the training step of the keras-io
architecture (:data:`nfp_lib.bench.CASES`) at several batch sizes, plain (float32, eager) and
fast (bf16, channels-last, the whole step replayed as a CUDA graph, optionally compiled), and
profiles each fast step once without its graph (a replay hides its kernels from the profiler).
The profile sorts the GPU kernels into :data:`KINDS` and sets the convolutions' floating-point
operations (counted by ``torch.utils.flop_counter``) against their kernels' time and the chip's
bf16 peak. Writes ``gpu-profile.json`` and one kernel table per profiled step into ``DIR``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from nfp_lib import torch_backend
from nfp_lib.bench import FRAMES, PRESETS, SIZE, _video
from nfp_lib.torch_backend import fast

# Dense bf16 tensor-core peak of an H100/H200 SXM by NVIDIA's datasheet (FLOP/s).
BF16_PEAK = {"H200": 989e12, "H100": 989e12}
KINDS = ("convolution", "norm", "layout", "copy", "fused", "elementwise", "optimizer", "other")


def kernel_kind(name: str) -> str:
    """Sort a CUDA kernel by its name into one of :data:`KINDS`."""
    lower = name.lower()
    if lower.startswith("triton"):
        return "fused"  # Inductor's kernels, named after every operation they fuse
    if "bn_" in lower or "batch_norm" in lower:
        return "norm"
    if any(key in lower for key in ("nchwtonhwc", "nhwctonchw", "addpadding", "transpose")):
        return "layout"  # cuDNN's format conversions around a convolution
    if any(key in lower for key in ("xmma", "implicit", "wgrad", "dgrad", "fprop", "conv")):
        return "convolution"
    if "gemm" in lower or "cutlass" in lower:
        return "convolution"  # cuDNN runs convolutions as implicit GEMMs
    if "copy" in lower or "cat" in lower:
        return "copy"
    if "adam" in lower or "multi_tensor" in lower:
        return "optimizer"
    if "elementwise" in lower or "reduce" in lower:
        return "elementwise"
    return "other"


def conv_flops(step, x: torch.Tensor, y: torch.Tensor) -> int:
    """Floating-point operations of the convolutions (forward and backward) of one ``step``."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step(x, y)
    counts = counter.get_flop_counts().get("Global", {})
    return int(sum(v for op, v in counts.items() if "convolution" in str(op)))


def profile_step(step, x: torch.Tensor, y: torch.Tensor, steps: int = 3) -> dict:
    """GPU kernel time of ``steps`` calls of ``step``: in total, per kind and per kernel."""
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step(x, y)
        torch.cuda.synchronize()
    kernels = {}
    for row in prof.key_averages():
        if row.device_type == torch.autograd.DeviceType.CUDA or (
            row.self_device_time_total > 0 and row.cpu_time_total == 0
        ):  # microseconds -> seconds per step
            kernels[row.key] = (row.self_device_time_total / 1e6 / steps, row.count // steps)
    by_kind = dict.fromkeys(KINDS, 0.0)
    for name, (seconds, _) in kernels.items():
        by_kind[kernel_kind(name)] += seconds
    ranked = sorted(kernels.items(), key=lambda item: -item[1][0])
    return {
        "kernel_s": sum(by_kind.values()),
        "kernels_per_step": sum(n for _, n in kernels.values()),
        "by_kind_s": by_kind,
        "kernels": [
            {"kernel": name[:150], "s": s, "calls": n, "kind": kernel_kind(name)}
            for name, (s, n) in ranked
        ],
    }


def build(batch: int, variant: str):
    """The keras-io model, its optimizer and a batch: ``variant`` ``eager`` (float32),
    ``fast`` (bf16, channels-last) or ``compiled`` (the same plus ``torch.compile``)."""
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    video = torch_backend.to_tensor(_video(FRAMES, SIZE, batch), "cuda")
    x, y = video[:, :-1].contiguous(), video[:, 1:].contiguous()
    model = torch_backend.build_model(PRESETS["keras-io"].model).cuda().train()
    if variant != "eager":
        fast.channels_last_(model)
    optimizer = torch.optim.Adam(model.parameters(), capturable=variant != "eager")
    return model, optimizer, x, y


def time_step(step, x: torch.Tensor, y: torch.Tensor, steps: int = 30) -> list[float]:
    """Seconds of each of ``steps`` calls, timed with CUDA events after two warm-up calls."""
    for _ in range(2):
        step(x, y)
    times = []
    for _ in range(steps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step(x, y)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return times


def run_case(batch: int, variant: str, out: Path, peak: float | None) -> dict:
    """Time one step variant (graph-replayed unless eager) and profile it without the graph."""
    built = time.perf_counter()
    model, optimizer, x, y = build(batch, variant)
    bce = torch.nn.functional.binary_cross_entropy
    eager = variant == "eager"
    compiled = variant == "compiled"
    plain = fast.train_step(
        model, optimizer, bce, x, y, bf16=not eager, compile_model=compiled, cuda_graph=False
    )
    plain(x, y)  # warm-up (and compilation): the graph below reuses the compiled code
    step = plain
    if not eager:
        step = fast.train_step(model, optimizer, bce, x, y, compile_model=compiled)
    times = time_step(step, x, y, steps=30 if batch <= 32 else 10)
    case = {
        "batch": batch,
        "variant": variant,
        "build_s": time.perf_counter() - built - sum(times),
        "step_s": statistics.median(times),
        "step_s_min": min(times),
        "peak_memory_mb": torch.cuda.max_memory_allocated() / 2**20,
    }
    counted = fast.train_step(model, optimizer, bce, x, y, bf16=not eager, cuda_graph=False)
    flops = conv_flops(counted, x, y)  # uncompiled: the same convolutions, counted eagerly
    prof = profile_step(plain, x, y)
    conv_s = prof["by_kind_s"]["convolution"]
    case.update(
        conv_flops=flops,
        ungraphed_kernel_s=prof["kernel_s"],
        by_kind_s=prof["by_kind_s"],
        conv_tflops=flops / conv_s / 1e12,
        conv_share_of_peak=flops / conv_s / peak if peak else None,
        step_conv_share_of_peak=flops / case["step_s"] / peak if peak else None,
    )
    (out / f"kernels-b{batch}-{variant}.txt").write_text(
        "\n".join(
            f"{k['s'] * 1e3:9.3f} ms {k['calls']:5d}x {k['kind']:<11} {k['kernel']}"
            for k in prof["kernels"]
        )
        + "\n"
    )
    return case


def head_variants(batch: int) -> dict:
    """Forward and backward seconds of the keras-io 3x3x3 head on the last layer's output
    (bf16 autocast), as ``nn.Conv3d`` on a transposed view, on a channels-last-3d copy, and as
    one ``Conv2d`` over each frame stacked with its two neighbours (the same arithmetic)."""
    torch.manual_seed(0)
    head = torch.nn.Conv3d(64, 1, 3, padding=1).cuda()
    h = torch.rand(batch, FRAMES - 1, 64, SIZE, SIZE, device="cuda")
    h.requires_grad_(True)

    def transposed():
        return head(h.transpose(1, 2))

    def channels_last_3d():
        return head(h.transpose(1, 2).contiguous(memory_format=torch.channels_last_3d))

    def stacked():
        n, t = h.shape[:2]
        padded = F.pad(h, (0, 0, 0, 0, 0, 0, 1, 1))
        frames = torch.cat([padded[:, i : i + t] for i in range(3)], dim=2).flatten(0, 1)
        weight = head.weight.transpose(1, 2).flatten(1, 2)
        return F.conv2d(frames, weight, head.bias, padding=1)

    result = {}
    for fn in (transposed, channels_last_3d, stacked):

        def step(fn=fn):
            with torch.autocast("cuda", torch.bfloat16):
                out = fn()
            out.float().square().mean().backward()

        result[fn.__name__] = statistics.median(time_step(lambda x, y, s=step: s(), None, None, 10))
    return result


def matmul_tflops(n: int = 8192) -> float:
    """bf16 TFLOP/s of an ``n``-cubed matrix product on random data: the practical ceiling."""
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    seconds = statistics.median(time_step(lambda x, y: a @ b, None, None, 10))
    return 2 * n**3 / seconds / 1e12


def run(out: Path, cases: list[tuple[int, str]], deadline_s: float) -> dict:
    """Every case until ``deadline_s`` has passed, and the head's variants."""
    began = time.perf_counter()
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in BF16_PEAK.items() if k in name), None)
    result = {
        "device": name,
        "torch": torch.__version__,
        "bf16_peak_flops": peak,
        "matmul_tflops": matmul_tflops(),
        "frames": FRAMES - 1,
        "size": SIZE,
        "head_s": {batch: head_variants(batch) for batch in (5,)},
        "cases": [],
    }
    print(json.dumps(result), flush=True)
    for batch, variant in cases:
        if time.perf_counter() - began > deadline_s:
            result.setdefault("skipped", []).append([batch, variant])
            continue
        case = run_case(batch, variant, out, peak)
        result["cases"].append(case)
        print(json.dumps(case), flush=True)
        torch._dynamo.reset()
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds for new cases")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cases = [(5, "compiled"), (128, "fast")]
    result = run(args.out, cases, args.deadline)
    (args.out / "gpu-profile.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
