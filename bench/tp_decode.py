"""A tensor-parallel decode step of Llama-shaped layers in a CUDA graph, with the layer-ending
all-reduce (+ residual add + RMSNorm) from NCCL, torch symmetric memory, nvrar, nvrar fused, and
none (the compute alone). One process per GPU:

    torchrun --nproc_per_node=4 bench/tp_decode.py --out results_dir [--batches 1,2,4,8,16,32]

Per batch: the step time of each mode (graph replays, median), the all-reduce's overhead over the
compute alone and its share of the step, and whether the step's activations are bitwise the same on
every rank (each mode with an all-reduce; the exit status is 1 if one is not). With NVRAR_SHARE_GPUS=1
and more ranks than GPUs (rank r on GPU r % GPUs) the group is gloo, the nccl and symm modes are left
out (NCCL refuses two ranks on one GPU) and nothing is timed: one graph replay per mode and batch,
checked for agreement. Defaults like Llama-3-70B (hidden 8192, intermediate 28672, 64 heads, 8 KV heads), 8
layers, context 2048. Writes tp_decode_w{N}.json and .md (and .png when matplotlib is there).
"""
import argparse
import json
import os

import torch
import torch.distributed as dist
import torch.nn.functional as F

import nvrar
from torch_timing import capture, graph_us, pyplot

MODES = ["none", "nccl", "symm", "nvrar", "nvrar_fused"]


class Layer:
    """One TP shard of a decoder layer: attention over a static KV cache, then the MLP."""

    def __init__(self, a, tp, gen, norm_gen, dt):
        """gen: this rank's shards; norm_gen: the same on every rank (the norms' weights are replicated,
        as in a TP model, so the activations after each all-reduce agree across ranks)."""
        hd = a.hidden // a.heads
        self.qh, self.kvh, self.hd, self.ctx = a.heads // tp, max(a.kv_heads // tp, 1), hd, a.ctx
        inter = a.intermediate // tp
        self.gen, self.dt = gen, dt
        self.wqkv = self.w(a.hidden, (self.qh + 2 * self.kvh) * hd)
        self.wo = self.w(self.qh * hd, a.hidden)
        self.wgu = self.w(a.hidden, 2 * inter)
        self.wd = self.w(inter, a.hidden)
        self.norm1 = (1 + torch.randn(a.hidden, generator=norm_gen, device="cuda") * 0.1).to(dt)
        self.norm2 = (1 + torch.randn(a.hidden, generator=norm_gen, device="cuda") * 0.1).to(dt)
        self.k = self.v = None

    def w(self, *shape):
        return (torch.randn(*shape, generator=self.gen, device="cuda") * 0.02).to(self.dt)

    def set_batch(self, batch):
        """A KV cache of ctx tokens for each of batch sequences."""
        self.k = self.v = None
        self.k = self.w(batch, self.kvh, self.ctx, self.hd)
        self.v = self.w(batch, self.kvh, self.ctx, self.hd)

    def attention(self, x):
        b = x.shape[0]
        qkv = x @ self.wqkv
        q, k, v = qkv.split([self.qh * self.hd, self.kvh * self.hd, self.kvh * self.hd], dim=-1)
        self.k[:, :, -1] = k.view(b, self.kvh, self.hd)  # this step's token, at the cache's last slot
        self.v[:, :, -1] = v.view(b, self.kvh, self.hd)
        o = F.scaled_dot_product_attention(q.view(b, self.qh, 1, self.hd), self.k, self.v, enable_gqa=True)
        return o.reshape(b, self.qh * self.hd)

    def mlp(self, x):
        g, u = (x @ self.wgu).chunk(2, dim=-1)
        return F.silu(g) * u


def make_step(mode, layers, x0, res0, args, comm, symm_bufs, gname):
    """The decode step for one mode: x, residual <- the layers applied to copies of x0, res0."""
    x, res = x0.clone(), res0.clone()
    hidden, eps = args.hidden, args.eps

    def end(partial, weight):  # all-reduce + residual add + RMSNorm of one sublayer, into x and res
        if mode == "nvrar_fused":
            comm.all_reduce_add_rmsnorm(partial, res, weight, eps, out=x)
            return
        if mode == "nccl":
            dist.all_reduce(partial)
        elif mode == "nvrar":
            comm.all_reduce(partial)
        elif mode == "symm":
            partial = torch.ops.symm_mem.one_shot_all_reduce(partial, "sum", gname)
        res.add_(partial)
        x.copy_(F.rms_norm(res, (hidden,), weight, eps))

    def step():
        x.copy_(x0)
        res.copy_(res0)
        for layer in layers:
            attn = layer.attention(x)
            o = symm_bufs[0] if mode == "symm" else torch.empty_like(x)
            torch.matmul(attn, layer.wo, out=o)
            end(o, layer.norm1)
            m = symm_bufs[1] if mode == "symm" else torch.empty_like(x)
            torch.matmul(layer.mlp(x), layer.wd, out=m)
            end(m, layer.norm2)
    return step, x, res


def same_on_all_ranks(*tensors):
    """1 if every rank holds bitwise the same tensors (a position-weighted sum of their bits)."""
    bits = torch.cat([t.flatten().view(torch.int16).long() for t in tensors])
    pos = torch.arange(bits.numel(), device=bits.device) % 65521 + 1
    mine = torch.stack([(bits * pos).sum(), bits.sum()])
    if dist.get_backend() == "gloo":
        mine = mine.cpu()
    gathered = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, mine)
    return all(torch.equal(g, gathered[0]) for g in gathered)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=".")
    ap.add_argument("--hidden", type=int, default=8192)
    ap.add_argument("--intermediate", type=int, default=28672)
    ap.add_argument("--heads", type=int, default=64)
    ap.add_argument("--kv-heads", type=int, default=8)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--batches", default="1,2,4,8,16,32")
    ap.add_argument("--eps", type=float, default=1e-5)
    ap.add_argument("--modes", default=",".join(MODES))
    args = ap.parse_args()
    local = int(os.environ["LOCAL_RANK"])
    ngpu = torch.cuda.device_count()
    # ranks sharing the GPUs (NVRAR_SHARE_GPUS=1, more ranks than GPUs): NCCL refuses two ranks on one
    # GPU, so gloo, no nccl or symm mode, and no timing (the ranks time-slice the GPU): one step per
    # mode in a graph, checked for agreement
    sharing = os.environ.get("NVRAR_SHARE_GPUS") == "1" and int(os.environ["WORLD_SIZE"]) > ngpu
    local = local % ngpu if sharing else local
    torch.cuda.set_device(local)
    if sharing:
        dist.init_process_group("gloo")
    else:
        dist.init_process_group("nccl", device_id=torch.device("cuda", local))
    rank, tp = dist.get_rank(), dist.get_world_size()
    if args.heads % tp or args.intermediate % tp or args.hidden % args.heads:
        raise SystemExit(f"tp_decode: heads {args.heads}, intermediate {args.intermediate} must divide by TP {tp}")
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise SystemExit(f"tp_decode: unknown modes {unknown}: use {', '.join(MODES)}")
    if sharing:
        dropped = [m for m in modes if m in ("nccl", "symm")]
        modes = [m for m in modes if m not in dropped]
        if rank == 0:
            print(f"tp_decode: {tp} ranks share {ngpu} GPU(s): correctness and agreement only, no timing"
                  + (f"; left out: {', '.join(dropped)} (NCCL refuses two ranks on one GPU)" if dropped else ""))
    comm = nvrar.Communicator() if any(m.startswith("nvrar") for m in modes) else None
    symm_mem, gname = None, dist.group.WORLD.group_name
    if "symm" in modes:
        try:
            import torch.distributed._symmetric_memory as symm_mem
        except Exception as err:  # noqa: BLE001
            modes.remove("symm")
            if rank == 0:
                print(f"torch symmetric memory unavailable ({err}): no symm column")
    dt = torch.bfloat16
    rows = []
    gen = torch.Generator(device="cuda").manual_seed(1000 + rank)  # each rank its own shards
    norm_gen = torch.Generator(device="cuda").manual_seed(999)  # the norms' weights: every rank the same
    layers = [Layer(args, tp, gen, norm_gen, dt) for _ in range(args.layers)]
    for batch in [int(b) for b in args.batches.split(",")]:
        for layer in layers:
            layer.set_batch(batch)
        shared = torch.Generator(device="cuda").manual_seed(7)  # the step's input: the same on every rank
        x0 = torch.randn(batch, args.hidden, generator=shared, device="cuda").to(dt)
        res0 = torch.randn(batch, args.hidden, generator=shared, device="cuda").to(dt)
        row = {"batch": batch, "bytes": batch * args.hidden * 2}
        for mode in modes:
            bufs = None
            if mode == "symm":
                bufs = [symm_mem.empty(batch, args.hidden, dtype=dt, device="cuda") for _ in range(2)]
                for b in bufs:
                    symm_mem.rendezvous(b, group=gname)
            step, x, res = make_step(mode, layers, x0, res0, args, comm, bufs, gname)
            if sharing:
                us = None
                capture(step, warmup=1).replay()
            else:
                us = graph_us(step, iters=1, launches=20, reps=5)
                step()
            torch.cuda.synchronize()
            row[mode] = {"us": us, "same_on_ranks": same_on_all_ranks(x, res)}
            if rank == 0:
                when = "time-sliced" if us is None else f"{us:9.1f} us"
                print(f"batch {batch:3d} {mode:12s} {when}  same on ranks: {row[mode]['same_on_ranks']}", flush=True)
        rows.append(row)
    if rank == 0:
        write(rows, tp, modes, args)
    if comm is not None:
        comm.close()
    agree = all(r[m]["same_on_ranks"] for r in rows for m in modes if m != "none")  # none: each rank its shard
    dist.destroy_process_group()
    if not agree:
        raise SystemExit("tp_decode: the ranks' activations differ (see the table)")


def write(rows, tp, modes, args):
    base = os.path.join(args.out, f"tp_decode_w{tp}")
    os.makedirs(args.out, exist_ok=True)
    with open(base + ".json", "w") as f:
        json.dump({"tp": tp, "args": vars(args), "rows": rows}, f, indent=1)
    timed = all(r[m]["us"] is not None for r in rows for m in modes)
    with_ar = [m for m in modes if m != "none"]
    cols = ["batch"]
    if timed:
        cols += [f"{m} us" for m in modes] + [f"{m} all-reduce overhead (share)" for m in with_ar if "none" in modes]
    head = "| " + " | ".join(cols + ["modes whose activations differ across ranks"]) + " |"
    how = "CUDA graph (median of 5 x 20 replays)" if timed else "ranks sharing GPUs: one graph replay, no timing"
    lines = [f"TP {tp}, {args.layers} layers, hidden {args.hidden}, intermediate {args.intermediate}, "
             f"heads {args.heads}/{args.kv_heads}, ctx {args.ctx}, bf16, {how}; modes {', '.join(modes)}", "",
             head, "|" + " --- |" * (head.count("|") - 1)]
    for r in rows:
        cells = [str(r["batch"])] + [f"{r[m]['us']:.1f}" for m in modes if timed]
        if "none" in modes and timed:
            for m in with_ar:
                over = r[m]["us"] - r["none"]["us"]
                cells.append(f"{over:.1f} ({100 * over / r[m]['us']:.0f}%)")
        cells.append(", ".join(m for m in with_ar if not r[m]["same_on_ranks"]) or "none")
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    with open(base + ".md", "w") as f:
        f.write(text)
    print(text)
    plt = pyplot() if timed else None
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    batches = [r["batch"] for r in rows]
    for m in modes:
        ax.plot(batches, [r[m]["us"] for r in rows], marker="o", label=m)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch (tokens per step)")
    ax.set_ylabel("decode step, us")
    ax.set_title(f"TP {tp} decode step, {args.layers} layers")
    ax.legend()
    fig.savefig(base + ".png", dpi=120, bbox_inches="tight")
    print(f"plot: {base}.png")


if __name__ == "__main__":
    main()
