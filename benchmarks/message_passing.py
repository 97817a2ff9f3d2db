"""BOTAN's message aggregation: torch's index_add against torch_geometric's scatter and MessagePassing.

    python benchmarks/message_passing.py            # needs `pip install torch_geometric` for the PyG rows

The measurement behind dropping torch_geometric from the dependencies: at N = 4096 with about
30 neighbours within 2.0 sigma (E = 122880 edges) and hidden width 64, one aggregation costs
the same in all three (one thread, rounds alternating so machine noise hits each alike), and
importing PyG costs about 2 s on top of torch. Last line: JSON with ms per aggregation.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--neighbours", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    n, e, h = args.n, args.n * args.neighbours, args.hidden
    dst = torch.randint(0, n, (e,))
    edges = torch.stack([torch.randint(0, n, (e,)), dst])
    msg = torch.randn(e, h)
    paths = {"index_add": lambda: torch.zeros(n, h).index_add(0, dst, msg)}
    import_s = {}
    try:
        from torch_geometric.nn import MessagePassing
        from torch_geometric.utils import scatter

        class Sum(MessagePassing):
            def __init__(self) -> None:
                super().__init__(aggr="add")

            def forward(self, m, edge_index, size):
                return self.propagate(edge_index, m=m, size=(size, size))

            def message(self, m):
                return m

        layer = Sum()
        paths["pyg_scatter"] = lambda: scatter(msg, dst, dim=0, dim_size=n, reduce="sum")
        paths["pyg_message_passing"] = lambda: layer(msg, edges, n)
        for name, code in (("torch", "import torch"), ("torch_geometric", "import torch, torch_geometric")):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            import_s[name] = time.perf_counter() - t0
    except ImportError:
        print("torch_geometric not installed: timing index_add only", file=sys.stderr)
    ref = paths["index_add"]()
    for name, f in paths.items():
        assert torch.allclose(f(), ref, atol=1e-4), f"{name} disagrees with index_add"
    ms: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(args.rounds):
        for name, f in paths.items():
            t0 = time.perf_counter()
            for _ in range(20):
                f()
            ms[name].append((time.perf_counter() - t0) / 20 * 1e3)
    best = {k: min(v) for k, v in ms.items()}
    for k, v in ms.items():
        print(f"{k:<22} {best[k]:7.2f} ms per aggregation (rounds: {', '.join(f'{x:.2f}' for x in v)})")
    print(json.dumps({"n": n, "edges": e, "hidden": h, "ms_per_aggregation": best,
                      "ratio_vs_index_add": {k: best["index_add"] / v for k, v in best.items()},
                      "import_seconds": import_s}))


if __name__ == "__main__":
    main()
