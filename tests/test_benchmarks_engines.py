"""The fused and JAX engines' benchmark rows and W1's roofline on the tiny profile: the rows exist, compute what the
array engine computes, and the command writes them. No time is asserted."""

from __future__ import annotations

import importlib.util
import json

import pytest

from benchmarks import engines, workloads
from benchmarks.__main__ import main
from benchmarks.backends import detect

pytestmark = pytest.mark.skipif(importlib.util.find_spec("numba") is None or importlib.util.find_spec("jax") is None,
                                reason="the fused and JAX engines' rows need numba and jax")


@pytest.mark.slow
def test_rows_agree_with_the_array_engine_and_carry_the_roofline():
    cfg = workloads.TINY
    backends, _ = detect(("numpy",))
    rate = engines.fp_rate(seconds=0.05)
    assert rate["all cores"] > 0 and rate["one core"] > 0
    rows, notes = engines.run_w1_engines(cfg, backends, rate, log=lambda m: None)
    assert {(r.case, r.implementation) for r in rows} == {(p, impl) for p in cfg.penalties
                                                          for impl in (engines.FUSED, engines.JAX)}
    for r in rows:
        # same float64 iteration as the array engine, up to the order of a few sums, over 30 contracting steps
        assert r.seconds > 0 and r.max_abs_diff < 1e-12, r
        assert r.limit_name == engines.FP_LIMIT and 0 < r.limit_value
    flops = engines.flops_by_case(notes)
    assert set(flops) == set(cfg.penalties)
    assert flops["l1"] == engines.w1_flops(cfg.w1_d, "l1", 0)


def test_flop_count_grows_with_d_and_the_kept_coordinates():
    # one trial-iteration: 16 d + 22 for l1 (docstring); TL1 pays its threshold per entry and its branch per kept one
    assert engines.w1_flops(64, "l1", 0) == 16 * 64 + 22
    assert engines.w1_flops(64, "tl1", 32) - engines.w1_flops(64, "tl1", 0) == 19 * 32
    with pytest.raises(ValueError, match="penalty"):
        engines.w1_flops(8, "l2", 0)


def test_command_writes_the_engine_rows_and_the_fp_rate(tmp_path, capsys):
    assert main(["--profile", "tiny", "--workloads", "W1", "--fused", "--scaling", "8,32", "--no-structure",
                 "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "benchmarks.json").read_text())
    impls = {(r["workload"], r["implementation"]) for r in data["rows"]}
    assert ("W1", engines.FUSED) in impls and ("W1", engines.JAX) in impls and ("W1-scaling", engines.FUSED) in impls
    assert not any(r["workload"] in ("W2", "W3") for r in data["rows"])
    for r in data["rows"]:
        if r["workload"] == "W1" and r["implementation"] in (engines.FUSED, engines.JAX):
            assert r["max_abs_diff"] < 1e-12 and r["limit_value"] > 0, r
    assert any(k.startswith("FP rate") for k in data["meta"]["limits"])
    assert "fused engine (numba)" in (tmp_path / "benchmarks.md").read_text()
    with pytest.raises(SystemExit):
        main(["--workloads", "W4", "--out", str(tmp_path)])
