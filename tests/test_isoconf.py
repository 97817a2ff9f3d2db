"""Isoconfigurational runner: layout, reproducibility across executors, resume."""

import numpy as np
import pytest

from glassmm.analysis import propensity
from glassmm.io import Configuration, load_configuration
from glassmm.isoconf import log_spaced_times, run_isoconfigurational
from glassmm.simulation import maxwell_boltzmann_velocities

TIMES = [0.05, 0.2, 0.5]


@pytest.fixture(scope="module")
def config(small_liquid):
    ka = small_liquid
    return Configuration(ka.positions_reduced, ka.types, ka.box, temperature=1.0)


@pytest.fixture(scope="module")
def serial_run(config, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "iso"
    return run_isoconfigurational(config, 1.0, out, n_replicas=4, times=TIMES, seed=11, progress=False)


def test_layout_and_metadata(serial_run, config):
    assert len(serial_run.files) == 3
    for k, f in enumerate(serial_run.files):
        c = load_configuration(f)
        assert c.replica_positions.shape == (4, 256, 3)
        assert np.array_equal(c.positions, config.positions)
        assert float(c.extra["time"]) == pytest.approx(TIMES[k])
        assert c.temperature == 1.0 and len(c.extra["seeds"]) == 4
        assert len(np.unique(c.extra["seeds"])) == 4
        p = propensity(c.positions, c.replica_positions)
        assert p.shape == (256,) and np.all(p > 0)
    # replicas differ (fresh velocities) and motion grows with time
    last = load_configuration(serial_run.files[-1]).replica_positions
    assert not np.allclose(last[0], last[1])
    p = [propensity(config.positions, load_configuration(f).replica_positions).mean() for f in serial_run.files]
    assert p[0] < p[1] < p[2]


def test_process_pool_is_bit_identical(serial_run, config, tmp_path):
    res = run_isoconfigurational(config, 1.0, tmp_path / "iso", n_replicas=4, times=TIMES, seed=11, workers=2, progress=False)
    for a, b in zip(serial_run.files, res.files):
        assert np.array_equal(load_configuration(a).replica_positions, load_configuration(b).replica_positions)


def test_dask_is_bit_identical(serial_run, config, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            res = run_isoconfigurational(config, 1.0, tmp_path / "iso", n_replicas=4, times=TIMES, seed=11,
                                         executor=client, progress=False)
    for a, b in zip(serial_run.files, res.files):
        assert np.array_equal(load_configuration(a).replica_positions, load_configuration(b).replica_positions)


def test_interrupted_run_resumes_without_redoing(serial_run, config, tmp_path):
    done = []

    def interrupt(r):
        done.append(r)
        if len(done) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_isoconfigurational(config, 1.0, tmp_path / "iso", n_replicas=4, times=TIMES, seed=11,
                               progress=False, on_replica_done=interrupt)
    assert not (tmp_path / "iso_t0.npz").exists()
    res = run_isoconfigurational(config, 1.0, tmp_path / "iso", n_replicas=4, times=TIMES, seed=11, progress=False)
    assert res.replicas_run == 2
    for a, b in zip(serial_run.files, res.files):
        assert np.array_equal(load_configuration(a).replica_positions, load_configuration(b).replica_positions)
    # a different run into the same place is refused, naming what differs
    with pytest.raises(ValueError, match="temperature"):
        run_isoconfigurational(config, 0.9, tmp_path / "iso", n_replicas=4, times=TIMES, seed=11, progress=False)


def test_velocities_zero_momentum_and_temperature():
    v = maxwell_boltzmann_velocities(20000, 0.7, seed=1)
    assert np.abs(v.sum(0)).max() < 1e-9
    assert np.mean(v**2) == pytest.approx(0.7, rel=0.02)


def test_log_spaced_times_on_step_grid():
    t = log_spaced_times(10.0, 8, dt=0.005)
    assert t[0] == pytest.approx(0.05) and t[-1] == pytest.approx(10.0)
    assert np.allclose(np.round(t / 0.005) * 0.005, t)
    with pytest.raises(ValueError):
        run_isoconfigurational(Configuration(np.zeros((2, 3)) + [[0, 0, 0], [1, 1, 1]], [0, 0], [6, 6, 6]), 1.0, "/tmp/x", times=[0.5, 0.1])
