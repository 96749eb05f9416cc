"""Sweeps end to end: a local Dask cluster, an interrupted client resumed to the same store bit for bit, a store of
another spec refused, and ``--scheduler`` against a separately started scheduler and worker on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")
pytest.importorskip("zarr")
xr = pytest.importorskip("xarray")

from numerics.sweep import StoreError, example_spec, load_spec, parse_spec, run_sweep  # noqa: E402
from numerics.sweep.store import missing_tasks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
       "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
#: A sweep slow enough (16 tasks of about 0.1 s, small blocks of slowly converging trials) that a client can be
#: killed in the middle of it.
SLOW = """
[sweep]
trials = 48
block = 12
iters = 20000
tol = 1e-13
seed = 3

[grid]
penalty = ["l1", "l0"]
lam = [1e-3, 1e-2]
beta = [0.1]
eta = [0.2]
k = [4]
d = [6]
teacher = ["sparse"]
sparsity = [0.5]
"""


def _files(store: Path) -> dict[str, bytes]:
    """Every file of a store (relative path -> bytes), without the temporary files of interrupted chunk writes."""
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and not p.name.endswith(".partial")}


def _assert_same_store(a: Path, b: Path) -> None:
    fa, fb = _files(a), _files(b)
    assert sorted(fa) == sorted(fb)
    differ = [name for name in fa if fa[name] != fb[name]]
    assert not differ, differ[:10]
    da, db = xr.open_zarr(a), xr.open_zarr(b)
    assert da.identical(db)


@pytest.fixture(scope="module")
def tiny_reference(tmp_path_factory):
    """The tiny example sweep run in this process (no Dask): the reference every scheduled run must equal."""
    spec = load_spec(example_spec("tiny"))
    store = tmp_path_factory.mktemp("ref") / "tiny.zarr"
    summary = run_sweep(spec, store, workers=0, quiet=True)
    assert summary.tasks_run == spec.n_tasks
    return spec, store


def test_tiny_sweep_on_a_local_cluster_equals_the_in_process_run(tiny_reference, tmp_path, capsys):
    spec, ref = tiny_reference
    store = tmp_path / "tiny.zarr"
    summary = run_sweep(spec, store, workers=2)
    assert summary.tasks_run == spec.n_tasks and summary.trials == spec.n_cells * spec.trials
    err = capsys.readouterr().err
    assert f"sweep: {spec.n_tasks}/{spec.n_tasks} tasks (100.0%)" in err and "trial-iterations/s" in err
    assert summary.line().startswith(f"sweep done: {spec.n_tasks}/{spec.n_tasks} tasks")
    # scheduling order and worker processes do not change a single bit
    _assert_same_store(store, ref)
    ds = xr.open_zarr(store)
    assert bool(ds.done.all())
    assert set(ds.dims) == {"penalty", "a", "lam", "beta", "eta", "k", "d", "teacher", "sparsity", "init", "trial",
                            "block", "coord"}
    assert list(ds.penalty.values) == ["l1", "l0", "tl1"] and ds.sizes["trial"] == spec.trials
    stored = json.loads(ds.attrs["sweep_spec"])
    assert stored == spec.as_dict() and ds.attrs["sweep_spec_sha256"] == spec.sha256
    assert json.loads(ds.attrs["provenance_versions"])["zarr"]
    # rerunning finds nothing to do
    again = run_sweep(spec, store, workers=0, quiet=True)
    assert again.tasks_run == 0 and again.tasks_before == spec.n_tasks


def test_tiny_sweep_results_agree_with_the_theory(tiny_reference):
    spec, store = tiny_reference
    ds = xr.open_zarr(store).load()
    assert not bool(ds.diverged.any())
    mt = spec.match_tolerance(spec.grid["k"][0])
    reached = ds.reached.values
    assert np.array_equal(reached, np.maximum(ds.dist_u.values, ds.dist_w.values) <= mt)
    # l1: the limit is unique, so every converged trial that did not stop opposite w* is at the prediction
    l1 = ds.sel(penalty="l1")
    ok = l1.converged.values & ~l1.opposite.values
    assert ok.sum() > 0.9 * ok.size and bool(l1.reached.values[ok].all())
    # q > 0 at every reached limit, and the per-trial q equals the predicted q there (the limit's q)
    q_pred = ds.q_pred.broadcast_like(ds.q).values
    assert bool((ds.q.values[reached] > 0).all())
    np.testing.assert_allclose(ds.q.values[reached], q_pred[reached], rtol=0, atol=10 * mt)
    # support recovery of a reached trial in a cell without band coordinates is the predicted support's
    pred_support = ((ds.u_pred != 0) == (ds.w_star != 0)).all("coord").broadcast_like(ds.q).values
    no_band = (ds.band_coords == 0).broadcast_like(ds.q).values
    sel = reached & no_band
    assert sel.sum() > 0 and np.array_equal(ds.support.values[sel], pred_support[sel])
    # large lam thresholds more: the l1 support is not recovered at the largest lam and smallest beta
    assert 0 < reached.mean() <= 1


def test_a_changed_spec_is_refused_and_nothing_is_written(tiny_reference, tmp_path):
    spec, ref = tiny_reference
    before = _files(ref)
    data = spec.as_dict()
    data["sweep"]["iters"] += 1
    data["grid"]["lam"] = [1e-3, 2e-2]
    with pytest.raises(StoreError, match=r"holds a sweep of another spec .*differing keys: sweep\.iters, grid\.lam"):
        run_sweep(parse_spec(data), ref, workers=0, quiet=True)
    assert _files(ref) == before
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not a sweep store"):
        run_sweep(spec, tmp_path / "x", workers=0)
    (tmp_path / "f").write_text("")
    with pytest.raises(StoreError, match="not a directory"):
        run_sweep(spec, tmp_path / "f", workers=0)


def test_the_cli_refuses_a_changed_spec_in_one_line(tiny_reference, tmp_path):
    _, ref = tiny_reference
    changed = tmp_path / "changed.toml"
    changed.write_text(example_spec("tiny").read_text().replace("iters = 3000", "iters = 3001"))
    proc = subprocess.run([sys.executable, "-m", "numerics", "sweep", str(changed), "--store", str(ref),
                           "--workers", "0"], capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "differing keys: sweep.iters" in proc.stderr, proc.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(example_spec("tiny").read_text().replace("beta = [0.1, 1.0]", "beta = [0.1, -1.0]"))
    proc = subprocess.run([sys.executable, "-m", "numerics", "sweep", str(bad), "--store", str(tmp_path / "s")],
                          capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=120)
    assert proc.returncode == 2 and "spec key grid.beta: got -1.0; allowed beta > 0" in proc.stderr, proc.stderr
    assert not (tmp_path / "s").exists()


def _done_count(store: Path, spec) -> int:
    if not (store / ".zmetadata").exists():
        return 0
    try:
        return spec.n_tasks - len(missing_tasks(spec, store))
    except Exception:  # the store is being created under another name; not there yet
        return 0


@pytest.mark.parametrize("sig", [signal.SIGKILL, pytest.param(signal.SIGINT, marks=pytest.mark.slow)],
                         ids=["SIGKILL", "SIGINT"])
def test_a_killed_client_resumes_to_the_uninterrupted_store(tmp_path, sig):
    spec_file = tmp_path / "slow.toml"
    spec_file.write_text(SLOW)
    spec = load_spec(spec_file)
    ref = tmp_path / "ref.zarr"
    run_sweep(spec, ref, workers=0, quiet=True)
    store = tmp_path / "killed.zarr"
    cmd = [sys.executable, "-m", "numerics", "sweep", str(spec_file), "--store", str(store), "--workers", "2",
           "--quiet"]
    # the client kills itself once 3 tasks are back (a kill from outside at that moment; a poller of the store
    # could be starved on a loaded machine until the sweep had finished)
    name = "KILL" if sig == signal.SIGKILL else "INT"
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**ENV, "RVSM_SWEEP_SIGNAL_AFTER": f"3:{name}"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        proc.wait(timeout=120)
        assert proc.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 130), proc.stderr.read().decode()
        if sig == signal.SIGINT:  # Ctrl-C: the client cancels what is in flight and says how to finish
            assert "rerun the same command to finish" in proc.stderr.read().decode()
    finally:
        time.sleep(1.0)
        try:  # whatever the client had started and is still alive (its workers), by the group we created
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    done_at_kill = _done_count(store, spec)
    assert 3 <= done_at_kill < spec.n_tasks, f"the kill did not land mid-way ({done_at_kill} of {spec.n_tasks})"
    left = len(missing_tasks(spec, store))
    assert 0 < left < spec.n_tasks
    rerun = subprocess.run(cmd[:-1], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"({left} run now, {spec.n_tasks - left} before)" in rerun.stdout, rerun.stdout
    _assert_same_store(store, ref)


def _start(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=ENV, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def test_scheduler_option_uses_a_separately_started_cluster(tiny_reference, tmp_path):
    spec, ref = tiny_reference
    sched_file = tmp_path / "scheduler.json"
    procs = [_start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(sched_file)], tmp_path / "scheduler.log")]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sched_file.exists(), (tmp_path / "scheduler.log").read_text()
        time.sleep(0.2)  # the file is written whole, but give the scheduler a moment to listen
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        procs.append(_start(["distributed.cli.dask_worker", address, "--nthreads", "1", "--nworkers", "1",
                             "--host", "127.0.0.1", "--no-dashboard"], tmp_path / "worker.log"))
        store = tmp_path / "tiny.zarr"
        proc = subprocess.run([sys.executable, "-m", "numerics", "sweep", str(example_spec("tiny")), "--store",
                               str(store), "--scheduler", address], cwd=ROOT, env=ENV, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr + (tmp_path / "worker.log").read_text()
        assert f"sweep done: {spec.n_tasks}/{spec.n_tasks} tasks" in proc.stdout
        _assert_same_store(store, ref)
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=20)


def test_seeds_from_the_scheduling_order_would_break_the_equality(tiny_reference, tmp_path, monkeypatch):
    """The bit-for-bit comparisons above can fail: seeding start points from the order in which tasks run (a
    counter), not from the grid index, changes the store when the order changes."""
    import numerics.sweep.task as task_module

    spec, ref = tiny_reference
    counter = iter(range(10**6, 2 * 10**6))
    monkeypatch.setattr(task_module, "start_seed", lambda spec, t: next(counter))
    store = tmp_path / "counter.zarr"
    run_sweep(spec, store, workers=0, quiet=True)
    with pytest.raises(AssertionError):
        _assert_same_store(store, ref)


def test_local_workers_keep_glibcs_malloc_defaults_and_one_blas_thread():
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 by default, which made every task page-fault on the engine's
    temporaries (2.4x its CPU time); the local cluster unsets it and pins one BLAS thread per worker."""
    from distributed import Client

    from numerics.sweep.runner import _local_cluster

    cluster = _local_cluster(1)
    try:
        with Client(cluster) as client:
            env = client.run(lambda: {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS",
                                                                     "OPENBLAS_NUM_THREADS")})
    finally:
        cluster.close()
    (worker_env,) = env.values()
    assert worker_env == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    host = next(iter(env)).split("//")[1].split(":")[0]
    assert host == "127.0.0.1"


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_the_store_is_the_uninterrupted_one(tmp_path):
    psutil = pytest.importorskip("psutil")
    spec_file = tmp_path / "slow.toml"
    spec_file.write_text(SLOW)
    spec = load_spec(spec_file)
    ref = tmp_path / "ref.zarr"
    run_sweep(spec, ref, workers=0, quiet=True)
    store = tmp_path / "w.zarr"
    proc = subprocess.Popen([sys.executable, "-m", "numerics", "sweep", str(spec_file), "--store", str(store),
                             "--workers", "2"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _done_count(store, spec) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        workers = [c for c in psutil.Process(proc.pid).children(recursive=True)
                   if "spawn_main" in " ".join(c.cmdline()) and "resource_tracker" not in " ".join(c.cmdline())]
        assert _done_count(store, spec) < spec.n_tasks and len(workers) == 2
        os.kill(workers[0].pid, signal.SIGKILL)  # the nanny starts a new worker; the scheduler reruns its task
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode == 0 and f"sweep done: {spec.n_tasks}/{spec.n_tasks} tasks" in out
    _assert_same_store(store, ref)


def test_an_unreachable_scheduler_is_one_line(tmp_path):
    env = {**ENV, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}
    proc = subprocess.run([sys.executable, "-m", "numerics", "sweep", str(example_spec("tiny")), "--store",
                           str(tmp_path / "s.zarr"), "--scheduler", "tcp://127.0.0.1:9", "--quiet"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("python -m numerics sweep: error: argument --scheduler: cannot connect to "
                                  "'tcp://127.0.0.1:9'") and proc.stderr.count("\n") == 1, proc.stderr


def test_a_store_made_again_at_the_same_path_by_another_spec_is_written_as_its_own(tmp_path):
    """One process, one path: a sweep, the store removed, then a sweep of another spec (another block size) at the
    same path. The second store must be the second spec's own, equal to the same sweep written at a fresh path (a
    cached open of the first store once wrote 2-trial chunks into a 4-trial layout and reported success)."""
    import shutil

    base = SLOW.replace("trials = 48", "trials = 4").replace("iters = 20000", "iters = 300")
    specs = []
    for block in (2, 4):
        path = tmp_path / f"block{block}.toml"
        path.write_text(base.replace("block = 12", f"block = {block}"))
        specs.append(load_spec(path))
    first, second = specs
    store = tmp_path / "s.zarr"
    run_sweep(first, store, workers=0, quiet=True)
    shutil.rmtree(store)
    run_sweep(second, store, workers=0, quiet=True)
    run_sweep(second, tmp_path / "fresh.zarr", workers=0, quiet=True)
    _assert_same_store(store, tmp_path / "fresh.zarr")
