"""Time one harmonic k = 8 region attempt (plain MH, no MD) in the glassmm of a given source tree.

Used to measure a region attempt before and after a change, side by side (issue 28, item 3):

    git worktree add /tmp/before 5b43c03     # the tree before the change
    for rep in 1 2; do for n in 500 4096; do
      python benchmarks/attempt_cost_tree.py /tmp/before $n old
      python benchmarks/attempt_cost_tree.py . $n custom
      python benchmarks/attempt_cost_tree.py . $n plugin
    done; done

``old``: the tree's own KobAndersen (no ``force=``), its benchmark's ``probe_mh`` and proposal
signature. Prints one JSON line: milliseconds per attempt and the energy path the move took.
"""
import json, os, sys, time
os.environ["GLASSMM_QUIET"] = "1"
tree, n, force = os.path.abspath(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sys.path.insert(0, tree); sys.path.insert(0, tree + "/benchmarks")
import numpy as np, torch
torch.set_num_threads(1)
import glassmm
import sampler_speedup as sp
from glassmm.simulation import create_simulation
from glassmm.sampling.harmonic import HarmonicRegionProposal
from glassmm.sampling.regions import RegionSelector, LatticeCentres
kw = {} if force == "old" else {"force": force}
ka = glassmm.KobAndersen(n, positions="random", seed=0, **kw)
sim = create_simulation(ka, "langevin", temperature=0.8, seed=0, platform="CPU", threads=1)
sim.step(300)
start = sim.context.getState(positions=True, velocities=True)
sel = RegionSelector(8, width=0.9, shell_radius=2.0, ramp=0.4, box=ka.box)
maxc = 2.5
centres = LatticeCentres(ka.box, 2 * sel.zone_radius + maxc + 0.5)
if force == "old":
    p = sp.probe_mh(sim, start, HarmonicRegionProposal(8, 0.8, rho=0.8), ka, sel, centres, 0.8, 40, 0)
else:
    p = sp.probe_mh(sim, start, HarmonicRegionProposal(8, 0.8, rho=0.8, table=ka.table), ka, sel, centres, 0.8, 40, 0)
print(json.dumps({"tree": tree, "n": n, "force": force, "ms": p["wall_s_per_attempt"] * 1e3, "energy": p.get("energy_source")}))
