"""T-BOTAN training ablations on a temperature study's data (the evidence behind c2293b0).

    python benchmarks/tbotan_ablation.py VARIANT [TS|IS|TS+IS] [EPOCHS] [STUDY_DIR]

Trains one member on the study's training temperatures (configurations 0-3 at T = 1.0, 0.8,
0.7, 0.65), validates on configurations 4-5 at T = 0.8 and 0.7, prints loss, validation
Pearson and thermometer RMSE every 5 epochs, then the thermometer's readings on every
temperature's configurations 4-5. Variants: ``A`` the current model; ``B`` no temperature
head; ``C`` trained at T = 0.7 only; ``D`` temperature weight 0.1; ``L1`` zero-initialised
decoder output; ``L2`` linear decoder; ``L3`` no decoder; ``L4`` no LayerNorm on the global
path (now the default). The "shared trunk" figures of the closing note are variant A run on
the parent of c2293b0. Costs ~4 min per 50 epochs on one core.
"""
import sys, json, torch, time
from glassmm.studies.temperature import TemperatureStudy, TemperatureStudyConfig
from glassmm.training.data import load_samples
from glassmm.training.trainer import TrainConfig, Trainer
torch.set_num_threads(1)
variant = sys.argv[1]
st = TemperatureStudy(sys.argv[4] if len(sys.argv) > 4 else "/work/runs/ts2", TemperatureStudyConfig.preset("small"), progress=False)
trainT = [1.0, 0.8, 0.7, 0.65]
inputs = sys.argv[2] if len(sys.argv) > 2 else "TS"
need = inputs != "TS"
val = load_samples([f for T in (0.8, 0.7) for f in st.files(T, [4, 5])], need_inherent=need, progress=False)
kw = dict(epochs=50, pretrain_epochs=3, lr=2e-3, hidden=32, n_steps=3, inputs=inputs, temperature_head=True, patience=1000, seed=0)
if variant == "C":  # single-T at 0.7
    train = load_samples(st.files(0.7, [0, 1, 2, 3]), need_inherent=need, progress=False)
    val = load_samples(st.files(0.7, [4, 5]), need_inherent=need, progress=False)
    kw.update(epochs=200, pretrain_epochs=12)
else:
    train = load_samples([f for T in trainT for f in st.files(T, [0, 1, 2, 3])], need_inherent=need, progress=False)
if variant == "B":
    kw["temperature_head"] = False
if variant in ("D",):
    kw["temperature_weight"] = 0.1
kw["epochs"] = int(sys.argv[3]) if len(sys.argv) > 3 else kw["epochs"]
tr = Trainer(TrainConfig(**kw), train, val, f"/tmp/tbotan-ablation/{variant}-{inputs}")
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
import numpy as np
tr.load_best()
tr.model.eval()
if kw["temperature_head"]:
    for T in (1.0, 0.9, 0.8, 0.75, 0.7, 0.65, 0.6):
        ss = load_samples(st.files(T, [4, 5]), need_inherent=need, progress=False)
        with torch.no_grad():
            est = [float(tr.model(*tr._inputs(s))["temperature"]) * tr.t_std + tr.t_mean for s in ss]
        print(variant, "T", T, np.round(est, 3), flush=True)
