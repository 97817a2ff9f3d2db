"""Loading/saving configurations and clear errors on bad input."""

import numpy as np
import pytest

import glassmm
from glassmm.io import Configuration, load_configuration, save_configuration, save_npz
from glassmm.simulation import create_simulation, get_platform

from .conftest import needs_shared


def _config(n=300, seed=0):
    ka = glassmm.KobAndersen(n, seed=seed)
    return Configuration(ka.positions_reduced, ka.types, ka.box, temperature=0.5)


def test_round_trip(tmp_path):
    c = _config()
    path = save_configuration(tmp_path / "c.npz", c, dt=0.005)
    back = load_configuration(path)
    assert np.array_equal(back.positions, c.positions)
    assert np.array_equal(back.types, c.types)
    assert np.allclose(back.box, c.box) and not back.box_inferred
    assert back.temperature == 0.5
    assert float(back.extra["dt"]) == 0.005
    assert str(back.extra["glassmm_version"]) == glassmm.__version__


def test_from_arrays_accepts_quantities():
    ka = glassmm.KobAndersen(300)
    c = Configuration.from_arrays(ka.positions, ka.types, ka.box, temperature=60.0 * glassmm.units.u.kelvin)
    assert np.allclose(c.positions, ka.positions_reduced)
    assert c.temperature == pytest.approx(60.0 / 120.2722, rel=1e-5)


@needs_shared
def test_shared_file_box_is_inferred_from_density(shared_files):
    c = load_configuration(shared_files[0])
    assert c.box_inferred and np.allclose(c.box, 15.05658, atol=1e-5)
    assert c.replica_positions.shape == (32, 4096, 3)
    assert c.n_particles == 4096 and np.sum(c.types == 1) == 819


def test_missing_keys_named(tmp_path):
    save_npz(tmp_path / "bad.npz", types=np.zeros(10, dtype=np.int8))
    with pytest.raises(ValueError, match=r"missing key\(s\) \['initial_positions'\]"):
        load_configuration(tmp_path / "bad.npz")


def test_particle_count_mismatch_named(tmp_path):
    save_npz(tmp_path / "bad.npz", types=np.zeros(10, dtype=np.int8), initial_positions=np.zeros((11, 3)))
    with pytest.raises(ValueError, match="11 particles but the system has 10"):
        load_configuration(tmp_path / "bad.npz")


def test_nan_positions_named(tmp_path):
    pos = np.random.default_rng(0).uniform(0, 8, (10, 3))
    pos[3, 1] = np.nan
    save_npz(tmp_path / "bad.npz", types=np.zeros(10, dtype=np.int8), initial_positions=pos)
    with pytest.raises(ValueError, match="NaN"):
        load_configuration(tmp_path / "bad.npz")


def test_wrong_shape_named():
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        glassmm.KobAndersen(10, positions=np.zeros((10, 2)), box=[8, 8, 8])


def test_bad_types_named():
    with pytest.raises(ValueError, match="types must be 0"):
        glassmm.KobAndersen(4, positions=np.eye(4, 3), types=np.array([0, 1, 2, 0]), box=[8, 8, 8])


def test_corrupt_file_named(tmp_path):
    p = tmp_path / "corrupt.npz"
    p.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(ValueError, match="not an npz configuration archive"):
        load_configuration(p)


def test_unknown_platform_named():
    with pytest.raises(ValueError, match="unknown platform 'Bogus'"):
        get_platform("Bogus")


def test_box_too_small_named():
    with pytest.raises(ValueError, match="too small"):
        glassmm.KobAndersen(20)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    c = _config()
    path = save_configuration(tmp_path / "c.npz", c)
    before = path.read_bytes()

    class Boom:
        def __array__(self, *a, **k):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        save_npz(path, x=np.zeros(3), y=Boom())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # no temporary left behind


def test_deterministic_factory():
    a, b = glassmm.KobAndersen(500, positions="random", seed=5), glassmm.KobAndersen(500, positions="random", seed=5)
    assert np.array_equal(a.types, b.types) and np.allclose(a.positions_reduced, b.positions_reduced)
    assert np.sum(a.types == 0) == 400


def test_random_start_has_no_overlaps():
    ka = glassmm.KobAndersen(500, positions="random", seed=1)
    from scipy.spatial import cKDTree

    tree = cKDTree(np.mod(ka.positions_reduced, ka.box), boxsize=ka.box)
    d, _ = tree.query(np.mod(ka.positions_reduced, ka.box), k=2)
    assert d[:, 1].min() > 0.7
    sim = create_simulation(ka, "langevin", temperature=1.0)
    sim.step(100)


def test_written_files_follow_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        p = save_configuration(tmp_path / "c.npz", _config())
    finally:
        os.umask(old)
    assert (p.stat().st_mode & 0o777) == 0o644
