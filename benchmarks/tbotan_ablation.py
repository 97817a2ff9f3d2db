"""T-BOTAN training ablations on a temperature study's data (the evidence behind c2293b0).

    python benchmarks/tbotan_ablation.py STUDY_DIR [--variant A] [--inputs TS] [--epochs 50] [--workdir DIR]

STUDY_DIR is the output folder of ``glassmm study temperature`` (its ``summary.json`` gives the
configuration; without one, the ``small`` preset). Trains one member on the study's training
temperatures and training configurations, validates on the test configurations of the two
middle training temperatures, prints loss, validation Pearson and thermometer RMSE every 5
epochs, then the thermometer's readings on every temperature's test configurations. Variants:
``A`` the current model; ``B`` no temperature head; ``C`` trained only at the colder of the
validation temperatures (0.7 in the small preset); ``D`` temperature weight 0.1; ``L1`` zero-initialised decoder output; ``L2``
linear decoder; ``L3`` no decoder; ``L4`` no LayerNorm on the global path (now the default).
The "shared trunk" figures of the closing note are variant A run on the parent of c2293b0.
Costs ~4 min per 50 epochs on one core.
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from glassmm.studies.temperature import TemperatureStudy, TemperatureStudyConfig
from glassmm.training.data import load_samples
from glassmm.training.trainer import TrainConfig, Trainer

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("study", type=Path, help="temperature study folder (glassmm study temperature OUTPUT)")
ap.add_argument("--variant", default="A", choices=("A", "B", "C", "D", "L1", "L2", "L3", "L4"))
ap.add_argument("--inputs", default="TS", choices=("TS", "IS", "TS+IS"))
ap.add_argument("--epochs", type=int, default=None, help="default 50 (200 for variant C)")
ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "tbotan-ablation")
args = ap.parse_args()
torch.set_num_threads(1)
summary = args.study / "summary.json"
if summary.exists():
    saved = json.loads(summary.read_text())["config"]
    cfg = TemperatureStudyConfig(**{k: v for k, v in saved.items() if k in TemperatureStudyConfig.__dataclass_fields__})
else:
    cfg = TemperatureStudyConfig.preset("small")
st = TemperatureStudy(args.study, cfg, progress=False)
variant, inputs = args.variant, args.inputs
need = inputs != "TS"
trainT = sorted((float(t) for t in cfg.train_temperatures), reverse=True)
valT = trainT[1:-1] or trainT  # the middle training temperatures
train_cfgs = lambda T: st.split(T)[0]  # noqa: E731
test_cfgs = lambda T: st.split(T)[1]  # noqa: E731
val = load_samples([f for T in valT for f in st.files(T, test_cfgs(T))], need_inherent=need, progress=False)
kw = dict(epochs=50, pretrain_epochs=3, lr=2e-3, hidden=32, n_steps=3, inputs=inputs, temperature_head=True, patience=1000, seed=0)
if variant == "C":  # single temperature: the colder validation one
    Tc = valT[-1]
    train = load_samples(st.files(Tc, train_cfgs(Tc)), need_inherent=need, progress=False)
    val = load_samples(st.files(Tc, test_cfgs(Tc)), need_inherent=need, progress=False)
    kw.update(epochs=200, pretrain_epochs=12)
else:
    train = load_samples([f for T in trainT for f in st.files(T, train_cfgs(T))], need_inherent=need, progress=False)
if variant == "B":
    kw["temperature_head"] = False
if variant in ("D",):
    kw["temperature_weight"] = 0.1
kw["epochs"] = args.epochs or kw["epochs"]
tr = Trainer(TrainConfig(**kw), train, val, str(args.workdir / f"{variant}-{inputs}"))
if variant == "L1":  # zero-initialised decoder output: starts as the linear thermometer
    torch.nn.init.zeros_(tr.model.temperature_decoder.net[2].weight); torch.nn.init.zeros_(tr.model.temperature_decoder.net[2].bias)
if variant == "L2":  # linear decoder on g
    tr.model.temperature_decoder = torch.nn.Linear(32, 1)
    torch.nn.init.zeros_(tr.model.temperature_decoder.weight)
if variant == "L3":  # no decoder correction
    tr.model.temperature_decoder = torch.nn.Linear(32, 1)
    torch.nn.init.zeros_(tr.model.temperature_decoder.weight)
    tr.model.temperature_decoder.weight.requires_grad_(False)
if variant == "L4":  # no LayerNorm in the global path
    tr.model.global_encoder.norm = torch.nn.Identity(); tr.model.global_update.norm = torch.nn.Identity()
if variant.startswith("L"):
    tr.opt = torch.optim.AdamW([p for p in tr.model.parameters() if p.requires_grad], lr=kw["lr"], weight_decay=1e-5)
    thermo = {"global_encoder", "global_update", "temperature_decoder", "temperature_linear"}
    tr._clip_groups = [[p for n, p in tr.model.named_parameters() if n.split(".")[0] not in thermo and p.requires_grad],
                       [p for n, p in tr.model.named_parameters() if n.split(".")[0] in thermo and p.requires_grad]]
t0 = time.time()
h = tr.fit(progress=False)
for r in h[::5] + [h[-1]]:
    print(variant, r["epoch"], round(r["loss"], 3), round(r["node"], 3), round(r.get("temperature", -1), 3), round(r["val_pearson"], 3), round(r.get("val_temperature_rmse", -1), 3), flush=True)
print(variant, "seconds", time.time() - t0)
# thermometer on every temperature's test configurations (diagnosis only)
tr.load_best()
tr.model.eval()
if kw["temperature_head"]:
    for T in sorted((float(t) for t in cfg.temperatures), reverse=True):
        ss = load_samples(st.files(T, test_cfgs(T)), need_inherent=need, progress=False)
        with torch.no_grad():
            est = [float(tr.model(*tr._inputs(s))["temperature"]) * tr.t_std + tr.t_mean for s in ss]
        print(variant, "T", T, np.round(est, 3), flush=True)
