"""The fused all-reduce + residual add + RMSNorm on one rank, where it is a plain fused add + norm,
against what a torch model does instead: `residual += x` then `F.rms_norm`, eager (two kernels) and
under torch.compile (Inductor fuses the two). One process on one GPU, CUDA graphs:

    torchrun --nproc_per_node=1 bench/rmsnorm_torch.py --out results_dir [--rows 1,8,32,128,512] [--hidden 8192]

Per row count: the time per call of each (graph of 20 calls replayed 20 times, timed in 11 rounds
that take the three in turn, rotating which goes first; the median and the range), the bytes the
call must move (x and residual read, residual and out written, the weight read) and the fused call's
rate over them, and whether its output is close to torch's (torch rounds its own way, so not bitwise:
the bitwise check against the C reference of nvrar's steps is tests/mp/test_rmsnorm). Writes
rmsnorm_torch.json and .md.
"""
import argparse
import json
import os

import torch
import torch.distributed as dist
import torch.nn.functional as F

import nvrar
from torch_timing import graphs_us


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=".")
    ap.add_argument("--rows", default="1,8,32,128,512")
    ap.add_argument("--hidden", type=int, default=8192)
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    ap.add_argument("--eps", type=float, default=1e-5)
    ap.add_argument("--rounds", type=int, default=11, help="timed rounds per implementation (interleaved)")
    args = ap.parse_args()
    dt = getattr(torch, args.dtype)
    torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("gloo")
    if dist.get_world_size() != 1:
        raise SystemExit("rmsnorm_torch: one rank only (torchrun --nproc_per_node=1): with more, the fused call "
                         "also all-reduces and torch's two kernels do not; bench/tp_decode.py compares those")
    comm = nvrar.Communicator()
    hidden, eps = args.hidden, args.eps

    def torch_step(x, res, w):
        res.add_(x)
        return F.rms_norm(res, (hidden,), w, eps)
    compiled = torch.compile(torch_step, fullgraph=True, dynamic=False)

    gen = torch.Generator(device="cuda").manual_seed(11)
    rows_out = []
    for rows in [int(r) for r in args.rows.split(",")]:
        x = torch.randn(rows, hidden, generator=gen, device="cuda").to(dt)
        res0 = torch.randn(rows, hidden, generator=gen, device="cuda").to(dt)
        w = (1 + 0.1 * torch.randn(hidden, generator=gen, device="cuda")).to(dt)
        out = torch.full_like(x, float("nan"))  # poisoned: a call that wrote nothing shows
        res = res0.clone()
        comm.all_reduce_add_rmsnorm(x, res, w, eps, out=out)
        ref_res = res0.clone()
        ref = torch_step(x, ref_res, w)
        torch.cuda.synchronize()
        tol = 1e-5 if dt == torch.float32 else 2e-2
        close = bool(torch.allclose(out.float(), ref.float(), rtol=tol, atol=tol)) and torch.equal(res, ref_res)
        diff = float((out.float() - ref.float()).abs().max())
        # the timed calls keep adding x into residual, as a model's layers do (a few thousand times
        # here: |residual| stays below 3e4, within every dtype's range)
        row = {"rows": rows, "bytes": (4 * rows * hidden + hidden) * x.element_size(), "close": close,
               "max_abs_diff": diff}
        times = graphs_us({"fused": lambda: comm.all_reduce_add_rmsnorm(x, res, w, eps, out=out),
                           "eager": lambda: torch_step(x, res, w), "compiled": lambda: compiled(x, res, w)},
                          rounds=args.rounds)
        for name, t in times.items():
            row[name + "_us"], row[name + "_range"] = t[len(t) // 2], [t[0], t[-1]]
        print(f"rows {rows:4d}: fused {row['fused_us']:7.2f} us, torch eager {row['eager_us']:7.2f}, "
              f"compiled {row['compiled_us']:7.2f}; close to torch: {close} (max |diff| {diff:.3g})", flush=True)
        rows_out.append(row)
    write(rows_out, args, torch.cuda.get_device_name())
    comm.close()
    dist.destroy_process_group()


def write(rows, args, device):
    base = os.path.join(args.out, "rmsnorm_torch")
    os.makedirs(args.out, exist_ok=True)
    with open(base + ".json", "w") as f:
        json.dump({"device": device, "args": vars(args), "rows": rows}, f, indent=1)
    lines = [f"{device}, one rank, hidden {args.hidden}, {args.dtype}, CUDA graph (20 calls x 20 replays; median "
             f"of {args.rounds} interleaved rounds, [fastest, slowest])",
             "", "| rows | bytes | nvrar fused us | TB/s | torch eager us | torch compiled us | fused / compiled | "
             "close to torch |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]

    def cell(r, name):
        lo, hi = r[name + "_range"]
        return f"{r[name + '_us']:.2f} [{lo:.2f}, {hi:.2f}]"
    for r in rows:
        lines.append(f"| {r['rows']} | {r['bytes']} | {cell(r, 'fused')} | {r['bytes'] / r['fused_us'] / 1e6:.2f} | "
                     f"{cell(r, 'eager')} | {cell(r, 'compiled')} | {r['fused_us'] / r['compiled_us']:.2f} | "
                     f"{'yes' if r['close'] else 'NO'} ({r['max_abs_diff']:.3g}) |")
    text = "\n".join(lines) + "\n"
    with open(base + ".md", "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
