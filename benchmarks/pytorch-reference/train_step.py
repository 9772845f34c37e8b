"""One NormFreeNet training step in PyTorch + timm (NFNet-F0 by default): the same work as NfNet.NET's TrainingStepBenchmark.

Forward, float32 cross-entropy, backward, adaptive gradient clipping (unit-wise, lambda 0.01, eps 1e-3; every
parameter but the classifier's weight, as DeepMind's SGD_AGC), coupled weight decay 2e-5 on weights of rank >= 2 added
after clipping, SGD with Nesterov momentum 0.9 (foreach), learning rate 0.1 * batch / 256. Timed by a stopwatch,
median of NFNET_BENCH_STEPS steps after NFNET_BENCH_WARMUP warm-ups; one line of output.

Environment: NFNET_BENCH_VARIANT (F0 … F7 for timm's dm_nfnet_f*, or any timm NormFreeNet name such as eca_nfnet_l0),
NFNET_BENCH_PRECISION (Float32, MixedBFloat16 = torch.autocast to bf16 with float32 weights, BFloat16 =
model and input in bf16), NFNET_BENCH_RES (128), NFNET_BENCH_BATCH (8), CHANNELS_LAST=1, THREADS (default: every CPU;
PyTorch's own default on this 2-vCPU machine is 1). In lockstep (lockstep.sh) NFNET_BENCH_TURN_READY, _WAIT and _PASS
name the named pipes of this process's place in the ring: one byte after setup to READY, then before every turn one
byte read from WAIT and after it one written to PASS; a turn is one step or NFNET_BENCH_TURN_STEPS steps back to back
(the .NET side: NfNet.Benchmarks/LockstepTurn.cs).
"""
import os
import statistics
import time

import timm
import torch

precision = os.environ.get("NFNET_BENCH_PRECISION", "Float32")
if precision not in ("Float32", "MixedBFloat16", "BFloat16"):
    raise SystemExit(f"NFNET_BENCH_PRECISION: unknown precision '{precision}' (Float32, MixedBFloat16, BFloat16)")
res = int(os.environ.get("NFNET_BENCH_RES", "128"))
batch = int(os.environ.get("NFNET_BENCH_BATCH", "8"))
warmups = int(os.environ.get("NFNET_BENCH_WARMUP", "4"))
steps = int(os.environ.get("NFNET_BENCH_STEPS", "8"))
channels_last = os.environ.get("CHANNELS_LAST", "0") == "1"
torch.set_num_threads(int(os.environ.get("THREADS", os.cpu_count())))
torch.manual_seed(0)

variant = os.environ.get("NFNET_BENCH_VARIANT", "F0")
name = f"dm_nfnet_{variant.lower()}" if len(variant) == 2 and variant[0] in "Ff" and variant[1].isdigit() else variant
model = timm.create_model(name, num_classes=1000)
model = model.to(torch.bfloat16 if precision == "BFloat16" else torch.float32).train()
images = torch.randn(batch, 3, res, res).to(torch.float32 if precision == "Float32" else torch.bfloat16)
if channels_last:
    model = model.to(memory_format=torch.channels_last)
    images = images.contiguous(memory_format=torch.channels_last)
labels = torch.randint(0, 1000, (batch,))

named = list(model.named_parameters())
clipped = [p for n, p in named if n != "head.fc.weight"]
decayed = [p for _, p in named if p.ndim >= 2]
optimizer = torch.optim.SGD(model.parameters(), lr=0.1 * batch / 256, momentum=0.9, nesterov=True, foreach=True)


def unitwise_norm(x):
    # Brock et al. 2021, section 4.1: norms per output unit (row) of a weight, the whole tensor for vectors.
    return x.norm() if x.ndim <= 1 else torch.linalg.vector_norm(x, dim=tuple(range(1, x.ndim)), keepdim=True)


@torch.no_grad()
def clip_and_decay(clip_factor=0.01, eps=1e-3, weight_decay=2e-5):
    for p in clipped:
        g = p.grad
        max_norm = unitwise_norm(p).clamp_(min=eps).mul_(clip_factor)
        grad_norm = unitwise_norm(g)
        g.mul_(torch.where(grad_norm > max_norm, max_norm / grad_norm.clamp(min=1e-6), torch.ones_like(grad_norm)).to(g.dtype))
    torch._foreach_add_([p.grad for p in decayed], decayed, alpha=weight_decay)


def step():
    optimizer.zero_grad(set_to_none=True)
    if precision == "MixedBFloat16":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(images)
    else:
        logits = model(images)
    torch.nn.functional.cross_entropy(logits.float(), labels).backward()
    clip_and_decay()
    optimizer.step()


turn_paths = [os.environ.get(f"NFNET_BENCH_TURN_{name}", "") for name in ("READY", "WAIT", "PASS")]
if any(turn_paths) and not all(turn_paths):
    raise SystemExit("lockstep needs all of NFNET_BENCH_TURN_READY, NFNET_BENCH_TURN_WAIT and NFNET_BENCH_TURN_PASS")
steps_text = os.environ.get("NFNET_BENCH_TURN_STEPS", "")
if steps_text and not all(turn_paths):
    raise SystemExit("NFNET_BENCH_TURN_STEPS applies only in lockstep, with NFNET_BENCH_TURN_READY, _WAIT and _PASS set")
if steps_text and not (steps_text.isdigit() and int(steps_text) >= 1):
    raise SystemExit(f"NFNET_BENCH_TURN_STEPS must be a positive integer, got '{steps_text}'")
per_turn = int(steps_text or "1")
turn = [open(path, mode, buffering=0) for path, mode in zip(turn_paths, ("wb", "rb", "wb"))] if all(turn_paths) else None
if turn:
    turn[0].write(b"\1")

times = []
total = warmups + steps
for i in range(total):
    if turn and i % per_turn == 0 and turn[1].read(1) != b"\1":
        raise SystemExit(f"lockstep: the turn pipe {turn_paths[1]} closed before the turn came")
    start = time.perf_counter()
    step()
    times.append((time.perf_counter() - start) * 1000)
    if turn and ((i + 1) % per_turn == 0 or i == total - 1):
        turn[2].write(b"\1")
measured = times[warmups:]
print(f"pytorch {precision} {res}px batch {batch}, {torch.get_num_threads()} threads, channels_last {int(channels_last)}: "
      f"median {statistics.median(measured):.1f} ms, mean {statistics.mean(measured):.1f} ms; "
      f"steps {' '.join(f'{t:.0f}' for t in measured)}", flush=True)
