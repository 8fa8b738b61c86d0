"""scripts/bench.py's fp32 ceiling: the figures it derives from a measured GEMM rate."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("vidclass_bench", ROOT / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved  # the script puts the checkout and scripts/ first for itself
    return module


def test_ceiling_is_one_pass_at_the_measured_rate(bench):
    ceiling = bench.fp32_ceiling(one_pass_gflop=695.0, gflops=175.0, baseline_s=20.0)
    assert ceiling["one_pass_s_at_fp32_ceiling"] == pytest.approx(695 / 175, abs=0.01)
    assert ceiling["speedup_ceiling_fp32"] == pytest.approx(20 / (695 / 175), abs=0.01)
    assert ceiling["gflops_for_target"] == pytest.approx(695 * bench.TARGET_SPEEDUP / 20, abs=0.1)
    assert "speedup_ceiling_fp32" not in bench.fp32_ceiling(695.0, 175.0, None)


def _row(wall_s: float, gflop: float, one_pass: float) -> dict:
    return {"wall_s": wall_s, "speedup": None, "speedup_cpu": None, "mode": "stream", "provider": "cpu",
            "precision": "fp32", "flops_ratio": gflop / one_pass, "video_s_per_wall_s": 8 / wall_s,
            "model_share": 0.97, "peak_rss_mb": 800.0, "one_pass_gflop": one_pass}


def test_headline_carries_the_ceiling_against_the_baseline(bench):
    table = {"baseline": _row(20.0, 1334.0, 695.0), "default": _row(7.0, 695.0, 695.0)}
    table["default"]["speedup"] = table["default"]["speedup_cpu"] = 20.0 / 7.0
    summary = bench.headline(table, 8.0, 3, "0", "0", 157.0, measured_gflops=180.0)
    assert summary["speedup_default"] == pytest.approx(2.86)
    assert summary["one_pass_gflop"] == 695.0
    assert summary["speedup_ceiling_fp32"] == pytest.approx(20 * 180 / 695, abs=0.01)
    assert "speedup_ceiling_fp32" not in bench.headline(table, 8.0, 3, "0", "0", 157.0)


def test_measured_rate_is_a_plausible_fp32_rate(bench):
    rates = bench.measured_fp32_gflops(size=256, repeats=2)
    assert set(rates) == {"onnxruntime", "numpy"}
    # Above a scalar loop's rate and below any CPU's fp32 peak on a few cores.
    assert all(0.5 < gflops < 50_000 for gflops in rates.values())
