"""glassmm.geometry: minimum image, dimensions, degrees of freedom, centre-of-mass drift (tested once here)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glassmm import geometry


def test_minimum_image_numpy_torch_and_torchscript_agree():
    rng = np.random.default_rng(0)
    box = np.array([4.0, 5.0, 6.0])
    d = rng.uniform(-20, 20, (500, 3))
    out = geometry.minimum_image(d, box)
    assert np.all(np.abs(out) <= box / 2 + 1e-12)
    # shifted by whole box edges only
    assert np.allclose((d - out) / box, np.round((d - out) / box), atol=1e-9)
    t = geometry.minimum_image(torch.tensor(d), torch.tensor(box))
    assert np.allclose(t.numpy(), out)
    scripted = torch.jit.script(geometry.minimum_image)
    assert np.allclose(scripted(torch.tensor(d), torch.tensor(box)).numpy(), out)


def test_infer_dimensions():
    pos = np.random.default_rng(1).uniform(0, 5, (50, 3))
    assert geometry.infer_dimensions(pos) == 3
    pos[:, 2] = 0.0
    assert geometry.infer_dimensions(pos) == 2
    # a 3D configuration whose particles happen to share a z is not 2D
    assert geometry.infer_dimensions(np.array([[0.0, 0.0, 1.3], [1.0, 0.0, 1.3]])) == 3


def test_degrees_of_freedom_and_kinetic_temperature_in_2d_and_3d():
    assert geometry.degrees_of_freedom(1000, 3) == 2997
    assert geometry.degrees_of_freedom(1000, 2) == 1998
    assert geometry.degrees_of_freedom(1000, 3, momentum_conserved=False) == 3000
    with pytest.raises(ValueError, match="no kinetic degrees"):
        geometry.degrees_of_freedom(1, 3)
    rng = np.random.default_rng(2)
    for dims in (2, 3):
        v = rng.normal(0, np.sqrt(0.8), (20000, 3))
        v[:, dims:] = 0.0
        v = geometry.zero_momentum(v)
        assert np.allclose(v.sum(axis=0), 0.0, atol=1e-9)
        # equipartition: 0.8 per degree of freedom, in either dimension
        assert geometry.kinetic_temperature(v) == pytest.approx(0.8, rel=0.03)


def test_remove_drift_keeps_relative_motion_and_the_reference_centre():
    rng = np.random.default_rng(3)
    ref = rng.uniform(0, 10, (300, 3))
    moved = ref + rng.normal(0, 0.1, ref.shape) + np.array([1.5, -2.0, 0.3])  # a common drift
    out = geometry.remove_drift(moved, ref)
    assert np.allclose(out.mean(axis=0), ref.mean(axis=0))
    assert np.allclose(out - out[0], moved - moved[0])
    stack = geometry.remove_drift(np.stack([moved, moved + 1.0]), ref)
    assert np.allclose(stack[0], stack[1])
    with pytest.raises(ValueError, match="do not match"):
        geometry.remove_drift(moved[:10], ref)
