import statistics
import subprocess
from pathlib import Path

import pytest
import torch

from nfp_lib import bench, torch_backend
from nfp_lib.config import PRESETS
from nfp_lib.torch_backend.parallel import intra_op_threads
from nfp_lib.torch_backend.train import training_workers


def test_bench_case_reports_time_memory_and_rollout():
    result = bench.bench_case("laptop/torch", steps=1, size=32)
    assert result["train_step_s"] > 0 and result["rollout_s"] > 0
    assert result["peak_memory_mb"] > 0
    assert result["rollout_method"] == "O(T)"
    model = torch_backend.build_model(PRESETS["laptop"].model)
    assert result["parameters"] == sum(p.numel() for p in model.parameters())


def test_bench_case_trains_on_the_batch_it_is_given(monkeypatch):
    shapes = []

    def fake_case(config, x, y, device, variant):
        shapes.append((x.shape, y.shape))
        return (lambda: None), (lambda: None), 1

    monkeypatch.setattr(bench, "_torch_case", fake_case)
    bench.bench_case("laptop/torch", steps=1, size=32, batch=3)
    assert shapes[0] == ((3, 19, 32, 32, 1), (3, 19, 32, 32, 1))
    with pytest.raises(ValueError, match="batch"):
        bench.bench_case("laptop/torch", steps=1, size=32, batch=0)


def test_keras_cases_run_on_their_keras_backend(monkeypatch):
    backends = []

    def fake_run(command, env, **kwargs):
        backends.append(env["KERAS_BACKEND"])
        return subprocess.CompletedProcess(command, 0, stdout='{"train_step_s": 1}\n', stderr="")

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    cases = ["laptop/keras", "laptop/keras-jax", "keras-io/keras-jax"]
    for name in cases:
        assert bench._in_subprocess(name, "cpu", 1, 32, 1) == {"train_step_s": 1}
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    for name in cases:
        bench._in_subprocess(name, "cpu", 1, 32, 1)
    assert backends == ["torch", "jax", "jax", "tensorflow", "jax", "jax"]


def test_time_rollouts_returns_two_positive_times():
    rerun, ot = bench.time_rollouts(PRESETS["tiny"].model, "cpu", size=32)
    assert rerun > 0 and ot > 0


def _results():
    case = {
        "train_step_s": 0.5,
        "peak_memory_mb": 100.0,
        "rollout_s": 0.1,
        "rollout_method": "O(T)",
        "parameters": 1234,
    }
    return {
        "device": "cpu (2 cores)",
        "threads": 1,
        "load_average": 0.5,
        "batch": 5,
        "frames": 19,
        "size": 64,
        "cases": {"a/torch": case, "b/keras": {**case, "train_step_s": 0.0195}},
        "rollout_rerun_s": 0.7,
        "rollout_ot_s": 0.1,
        "rollout_speedup": 7.0,
    }


def test_format_table_lists_every_case_and_the_speedup():
    table = bench.format_table(_results())
    assert "a/torch" in table and "b/keras" in table
    assert "1,234" in table and "500ms" in table
    assert "speed-up 7.0x" in table


def test_markdown_table_has_a_row_per_case():
    rows = bench.markdown_table(_results()).splitlines()
    assert len(rows) == 4
    assert rows[2] == "| a/torch | 1,234 | 500.0 ms | 100 MB | 100 ms (O(T)) |"
    assert rows[3].startswith("| b/keras | 1,234 | 19.5 ms |")


@pytest.mark.parametrize("name", ["cpu", "cuda", "cpu-keras"])
def test_stored_benchmarks_hold_every_case_they_ran(name):
    stored = bench.stored_benchmark(name)
    assert set(stored["cases"]) <= set(bench.CASES)
    assert "laptop/torch" in stored["cases"]
    assert stored["rollout_speedup"] == pytest.approx(
        stored["rollout_rerun_s"] / stored["rollout_ot_s"]
    )
    with pytest.raises(ValueError, match="expected one of"):
        bench.stored_benchmark("tpu")


def test_stored_keras_benchmark_names_its_quiet_cpu():
    stored = bench.stored_benchmark("cpu-keras")
    assert stored["cpu"]["model"] and stored["cpu"]["cores"] == 2
    assert stored["threads"] == 1 and stored["load_average"] < 1.5  # only itself running


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"cases": ["nope"]}, "cases"),
        ({"device": "tpu"}, "device"),
        ({"batch": 0}, "batch"),
        ({"steps": 0}, "steps"),
        pytest.param(
            {"device": "cuda"},
            "cuda is not available",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA"),
        ),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bench.run_benchmarks(**kwargs)


def test_convlstm_macs_sums_the_gate_convolutions_per_frame():
    # convlstm-64: 64 filters, kernels 5, 3, 1 on the full 64 x 64 grid, 1 input channel.
    expected = 64 * 64 * (25 * (1 + 64) + 9 * (64 + 64) + 1 * (64 + 64)) * 4 * 64
    assert bench.convlstm_macs(PRESETS["convlstm-64"].model) == expected
    assert bench.convlstm_macs(PRESETS["convlstm-64"].model, size=32) == expected // 4


def test_train_step_flops_counts_the_gate_convolutions():
    # keras-io: 64 filters, kernels 5, 3, 1 on 64 x 64; 1 input channel; 19 frames.
    per_frame_macs = 64 * 64 * (25 * (1 + 64) + 9 * (64 + 64) + 1 * (64 + 64)) * 4 * 64
    expected = 2 * 3 * per_frame_macs * 19 * 5
    assert bench.train_step_flops(PRESETS["keras-io"].model) == expected
    assert expected == pytest.approx(1.74e12, rel=0.01)
    # 4x4 patches: 16 x 16 cells of 16 channels.
    laptop = PRESETS["laptop"].model
    macs = 16 * 16 * 9 * ((16 + 32) + (32 + 32) * 2) * 4 * 32
    assert bench.train_step_flops(laptop, batch=2, frames=3) == 2 * 3 * macs * 3 * 2


def test_model_macs_adds_the_head_and_the_dynamic_filters_to_the_convlstm():
    laptop = PRESETS["laptop"].model  # 16x16 grid, 3 x 32 filters, 3x3 head to 121 logits
    head, moves = 256 * 32 * 121 * 9, 64 * 64 * 121
    assert bench.model_macs(laptop) == bench.convlstm_macs(laptop) + head + moves
    plain = PRESETS["plain"].model  # the head draws 16 pixels per cell; no dynamic filter
    assert bench.model_macs(plain) == bench.convlstm_macs(plain) + 256 * 32 * 16 * 9
    masked = PRESETS["laptop-masks"].model  # 2 x 121 logits, 16 pixels, 3 x 16 masks; 2 moves
    head = 256 * 32 * (2 * 121 + 16 + 48) * 9
    assert bench.model_macs(masked) == bench.convlstm_macs(masked) + head + 2 * moves
    mirrored = PRESETS["big-masks-mirror"].model  # big-masks, predicting from four passes
    assert bench.model_macs(mirrored) == 4 * bench.model_macs(PRESETS["big-masks"].model)


def test_cpu_info_names_the_cpu_and_whether_bf16_is_native():
    info = bench.cpu_info()
    assert info["model"] and info["cores"] >= 1 and info["threads"] == torch.get_num_threads()
    assert set(info["flags"]) <= set(bench.CPU_FLAGS)
    assert info["bf16_native"] == torch_backend.bf16_native(torch.device("cpu"))
    cpuinfo = Path("/proc/cpuinfo")
    fields = bench.parse_cpuinfo(cpuinfo.read_text()) if cpuinfo.exists() else {}
    if fields.get("cpu family", "").isdigit():  # x86 Linux
        assert info["family"] == int(fields["cpu family"]) >= 1
        assert info["model_number"] == int(fields["model"])
    else:
        assert info["family"] is None and info["model_number"] is None


def test_parse_cpuinfo_reads_the_first_processor_only():
    text = (
        "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\n"
        "model name\t: AMD EPYC\nflags\t\t: fpu avx2 fma\n\n"
        "processor\t: 1\ncpu family\t: 23\nmodel\t\t: 49\nflags\t\t: fpu\n"
    )
    fields = bench.parse_cpuinfo(text)
    assert fields["cpu family"] == "25" and fields["model"] == "1"
    assert fields["model name"] == "AMD EPYC" and fields["flags"] == "fpu avx2 fma"
    assert bench.parse_cpuinfo("\n\nprocessor : 0\nmodel : 7\n") == {"processor": "0", "model": "7"}


@pytest.mark.parametrize("threads, slices", [(1, 1), (2, 2)])
def test_training_throughput_times_eager_and_fast_steps_in_turns(threads, slices):
    with intra_op_threads(threads):
        result = bench.training_throughput("laptop", repeats=2, size=32)
    assert result["batch"] == PRESETS["laptop"].train.batch_size
    assert result["fast_slices"] == slices
    assert len(result["eager_step_s"]) == len(result["fast_step_s"]) == 2
    eager, fast = (statistics.median(result[f"{v}_step_s"]) for v in ("eager", "fast"))
    assert result["eager_seq_per_s"] == pytest.approx(result["batch"] / eager)
    assert result["speedup"] == pytest.approx(eager / fast)
    if slices == 1:  # the fast step is the eager one: timed once
        assert result["fast_step_s"] == result["eager_step_s"]
    with intra_op_threads(threads):  # batch norm: the keras-io model trains whole
        assert training_workers(PRESETS["keras-io"], torch.device("cpu")) == 1


def test_evaluation_speed_times_evaluate_the_plain_way_and_the_model_part():
    result = bench.evaluation_speed(sequences=3, repeats=1)
    assert result["sequences"] == 3 and len(result["evaluate_s"]) == 1
    assert result["evaluate_seq_per_s"] == pytest.approx(3 / result["evaluate_s"][0])
    assert result["plain_seq_per_s"] == pytest.approx(3 / result["plain_s"][0])
    assert result["speedup"] == pytest.approx(result["plain_s"][0] / result["evaluate_s"][0])
    assert result["checkpoint"] == "laptop-torch"
    assert result["model_one_pass_seq_per_s"] > 0 and result["model_two_passes_seq_per_s"] > 0
    assert result["model_speedup"] == pytest.approx(
        result["model_one_pass_seq_per_s"] / result["model_two_passes_seq_per_s"]
    )


def test_format_table_adds_throughput_lines_when_present():
    results = _results()
    results["training"] = {
        "laptop": {"batch": 8, "eager_seq_per_s": 20.0, "fast_seq_per_s": 30.0, "speedup": 1.5}
    }
    results["evaluation"] = {
        "checkpoint": "laptop-torch",
        "evaluate_seq_per_s": 9.5,
        "speedup": 2.5,
        "model_speedup": 1.25,
    }
    table = bench.format_table(results)
    assert "laptop float32 training, batch 8: eager 20.0, fast 30.0 sequences/s (1.50x)" in table
    assert (
        "evaluate laptop-torch: 9.5 sequences/s, 2.50x the plain way (model part in one pass 1.25x)"
    ) in table
