"""`glassmm` subcommands -- Reproducible studies: study temperature."""

from __future__ import annotations

import argparse


# ---------------------------------------------------------------------------- study
def _add_study(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help="reproducible studies (temperature: T-BOTAN thermometer and unseen temperatures)")
    ssub = p.add_subparsers(dest="study", required=True)
    t = ssub.add_parser("temperature", help="multi-T data, T-BOTAN on a subset, held-out T metrics, latent map, plots")
    t.add_argument("output", help="study folder (resumable: rerun to continue)")
    t.add_argument("--preset", default="small", help="small (~60 min on 2 cores, the reported run) or tiny (~2 min)")
    t.add_argument("-T", "--temperatures", type=float, nargs="+")
    t.add_argument("--train-temperatures", type=float, nargs="+")
    t.add_argument("--baseline-temperature", type=float,
                   help="held-out temperature at which a single-temperature model is trained for comparison")
    t.add_argument("-n", "--n-particles", type=int)
    t.add_argument("--configs", dest="n_configs", type=int)
    t.add_argument("--test-configs", dest="n_test_configs", type=int)
    t.add_argument("-R", "--replicas", dest="n_replicas", type=int)
    t.add_argument("--inputs", nargs="+", choices=["TS", "IS", "TS+IS"])
    t.add_argument("--members", dest="n_members", type=int, help="ensemble size per input kind")
    t.add_argument("--epochs", type=int)
    t.add_argument("--workers", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--ship", help="also export the TS T-BOTAN ensemble as one artifact here (e.g. tbotan-ka.pt)")
    t.set_defaults(func=_cmd_study_temperature)


def _cmd_study_temperature(args: argparse.Namespace) -> int:
    from glassmm.studies import TemperatureStudy, TemperatureStudyConfig

    keys = ("temperatures", "train_temperatures", "baseline_temperature", "n_particles", "n_configs", "n_test_configs",
            "n_replicas", "inputs", "n_members", "epochs", "workers", "seed")
    cfg = TemperatureStudyConfig.preset(args.preset, **{k: getattr(args, k) for k in keys})
    summary = TemperatureStudy(args.output, cfg).run(ship=args.ship)
    for kind, res in summary["results"].items():
        for T, m in res["per_temperature"].items():
            print(f"{kind:6s} T = {T} ({m['role']:12s}) Pearson snapshot {m['pearson_per_snapshot']:.3f} "
                  f"ensemble {m['pearson_ensemble']:.3f} | T-RMSE snapshot {m['temperature_rmse_per_snapshot']:.3f} "
                  f"ensemble {m['temperature_rmse_ensemble']:.3f} bias {m['temperature_bias']:+.3f} "
                  f"(energy thermometer {m.get('energy_thermometer_rmse', float('nan')):.3f})")
        if "baseline" in res:
            b = res["baseline"]
            print(f"{kind:6s} at T = {b['temperature']}: ensemble Pearson T-BOTAN {b['tbotan']['pearson_ensemble']:.3f} "
                  f"vs trained at that T {b['single_temperature']['pearson_ensemble']:.3f}")
    big = summary.get("thermometer_large_system")
    if big:
        for T, row in big["per_temperature"].items():
            for kind, m in row.items():
                print(f"{kind:6s} T = {T} N = {big['n_particles']} ({big['snapshots']} fresh snapshots) "
                      f"T-RMSE snapshot {m['temperature_rmse_per_snapshot']:.3f} ensemble "
                      f"{m['temperature_rmse_ensemble']:.3f} bias {m['temperature_bias']:+.3f} "
                      f"(energy thermometer {m['energy_thermometer_rmse']:.3f})")
    cost = summary["cost_seconds"]
    print(f"cost: {cost['total'] / 60:.1f} min wall on this machine "
          f"({', '.join(f'{k} {v:.0f} s' for k, v in cost.items() if k != 'total')}); "
          f"summary and plots in {args.output}")
    return 0


ADDERS = [_add_study]
