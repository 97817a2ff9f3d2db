"""A plain OpenMM script with glassmm's Kob-Andersen system (the README's example)."""

import glassmm
from glassmm.simulation import create_simulation, melt_and_quench

ka = glassmm.KobAndersen(n_particles=1000, positions="random", seed=1)  # 80:20, density 1.2
sim = create_simulation(ka, "langevin", temperature=0.8)  # reduced units; platform="auto": CUDA > HIP > OpenCL > CPU
melt_and_quench(sim, temperature=0.8, equilibration_time=5.0)
# unwrapped positions (KA atoms are their own molecules), types in quickstart.dcd.types.npz
sim.reporters.append(glassmm.dcd_reporter("quickstart.dcd", 200, ka))
sim.step(2000)  # 10 tau
state = sim.context.getState(energy=True)
print("U/N =", glassmm.units.as_reduced_energy(state.getPotentialEnergy()) / ka.n_particles)
