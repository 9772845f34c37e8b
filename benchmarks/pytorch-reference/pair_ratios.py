"""Ratios of neighbouring steps from one lockstep ring (lockstep.sh): NfNet.NET's step i against the step i of every
other process of the ring (another build of NfNet.NET, PyTorch in each setting), which ran right after it.

    python3 pair_ratios.py [--steps-per-turn K] <folder with out-0 … out-N> <name 0> … <name N>

out-0 is this build. A name that starts with "pytorch-" is a PyTorch setting. Prints, per other process, the median of
the per-pair ratios, their quartiles and the ratio of the two medians; with several PyTorch settings, then the same
against the setting with the lowest median (the issue's "best PyTorch column") and against the fastest setting of each
turn (the least favourable reading for NfNet.NET: the least of several noisy steps). With K steps a turn (lockstep.sh's
NFNET_BENCH_TURN_STEPS; the warm-ups and steps are multiples of K), also the pair ratios of the first step of each turn
(which starts after another process's step) and of the later ones (which start where the process's own step left the
caches, as in a training loop) apart.
"""
import statistics
import sys


def steps(path):
    for line in open(path):
        if line.startswith(("nfnet", "pytorch")) and "steps " in line:
            return [float(t) for t in line.rsplit("steps ", 1)[1].split()]
    raise SystemExit(f"{path}: no line with the steps")


def quartiles(values):
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return q[0], statistics.median(values), q[2]


args = sys.argv[1:]
per_turn = 1
if args[:1] == ["--steps-per-turn"]:
    per_turn, args = int(args[1]), args[2:]
folder, names = args[0], args[1:]
runs = [steps(f"{folder}/out-{i}") for i in range(len(names))]
if len({len(r) for r in runs}) != 1:
    raise SystemExit(f"the processes timed different numbers of steps: {[len(r) for r in runs]}")
ours = runs[0]
comparisons = list(zip(names[1:], runs[1:]))
torch_runs = [(name, run) for name, run in comparisons if name.startswith("pytorch-")]
if len(torch_runs) > 1:
    best_name, best_run = min(torch_runs, key=lambda c: statistics.median(c[1]))
    comparisons.append((f"best PyTorch setting by median ({best_name})", best_run))
    comparisons.append(("fastest PyTorch setting of each turn", [min(turn) for turn in zip(*(run for _, run in torch_runs))]))
print(f"{names[0]} median {statistics.median(ours):.1f} ms over {len(ours)} steps")
for name, theirs in comparisons:
    ratios = [a / b for a, b in zip(ours, theirs)]
    low, mid, high = quartiles(ratios)
    print(f"  vs {name}: median {statistics.median(theirs):.1f} ms; pair ratio median {mid:.3f} "
          f"(quartiles {low:.3f}-{high:.3f}); ratio of medians {statistics.median(ours) / statistics.median(theirs):.3f}")
    if per_turn > 1:
        for label, keep in (("first step of each turn", lambda i: i % per_turn == 0),
                            ("later steps of each turn", lambda i: i % per_turn != 0)):
            low, mid, high = quartiles([r for i, r in enumerate(ratios) if keep(i)])
            print(f"    {label}: pair ratio median {mid:.3f} (quartiles {low:.3f}-{high:.3f})")
