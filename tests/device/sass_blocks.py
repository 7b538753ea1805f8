#!/usr/bin/env python3
"""Where a kernel's instructions and stalls go, by code block.

Reads Nsight Compute's source page of one profiled launch as CSV (`ncu -i REPORT --page source --csv --print-source sass`,
the report taken with `--set full`, which samples warp states per instruction) and groups the SASS instructions by how
many times each was executed: a straight-line block runs every instruction the same number of times, so each count is
one block (a loop body, a prologue, a per-tile load). For the largest blocks it prints their share of the executed
instructions and of the warp-state samples, their opcode mix (usually enough to tell which part of the kernel they are)
and their leading stall reasons; then the instructions with the most samples, each with its reasons and the instruction
before it (a wait's samples land on the instruction after it: a branch after an mbarrier try-wait, the first use of a
load). With --in-order it then lists every sampled instruction in address order with the running share of the samples,
which is how a prologue reads: its phases run once each, so they are blocks of one count, told apart only by place.

    python3 tests/device/sass_blocks.py [--in-order] SOURCE.csv [BLOCKS]
"""
import collections
import csv
import sys


def read(path):
    rows = list(csv.reader(open(path, newline="")))
    header_at = next((i for i, r in enumerate(rows) if r and r[0] == "Address"), None)
    if header_at is None:
        sys.exit(f"sass_blocks.py: {path} has no source table (no 'Address' header row): was the report taken, with --set full?")
    header = rows[header_at]
    return [dict(zip(header, r)) for r in rows[header_at + 1:] if len(r) == len(header)]


def opcode(source):
    words = source.split()
    if not words:
        return "?"
    word = words[1] if words[0].startswith("@") and len(words) > 1 else words[0]
    return word.split(".")[0]


def count_of(instruction):
    return int(instruction["Instructions Executed"] or 0)


def reasons(instruction):
    """Warp-state samples by stall reason (issued or not), largest first."""
    found = collections.Counter({k[len("stall_"):]: int(v or 0) for k, v in instruction.items()
                                 if k.startswith("stall_") and "Not Issued" not in k})
    return found


def named(counter, sampled, top=4):
    return ", ".join(f"{k} {v / sampled:.1%}" for k, v in counter.most_common(top) if v)


def in_order(instructions, sampled):
    """Each sampled instruction in address order: index, times executed, samples, running share, its two reasons."""
    print("sampled instructions in address order (index, executed, samples, running share of samples):")
    running = 0
    for n, i in enumerate(instructions):
        own = int(i["Warp Stall Sampling (All Samples)"] or 0)
        running += own
        if own:
            print(f"  {n:5d} x{count_of(i):<9d} {own:5d} {running / sampled:6.1%}  {i['Source'].strip()[:70]:70s}  [{named(reasons(i), sampled, 2)}]")


def main():
    args = [a for a in sys.argv[1:] if a != "--in-order"]
    listed_in_order = len(args) < len(sys.argv) - 1
    if not args:
        sys.exit(__doc__)
    instructions = read(args[0])
    blocks = int(args[1]) if len(args) > 1 else 8
    executed = collections.Counter()
    samples = collections.Counter()
    size = collections.Counter()
    mix = collections.defaultdict(collections.Counter)
    stalls = collections.defaultdict(collections.Counter)
    for i in instructions:
        stalls[count_of(i)].update(reasons(i))
        count = int(i["Instructions Executed"] or 0)
        executed[count] += count
        samples[count] += int(i["Warp Stall Sampling (All Samples)"] or 0)
        size[count] += 1
        mix[count][opcode(i["Source"])] += 1
    total, sampled = sum(executed.values()), max(1, sum(samples.values()))
    print(f"{total / 1e6:.1f} M warp instructions executed, {sampled} warp-state samples, {len(instructions)} SASS instructions")
    for count, n in executed.most_common(blocks):
        top = ", ".join(f"{op} {k}" for op, k in mix[count].most_common(6))
        print(f"  executed {count:9d} × {size[count]:4d} instructions: {n / total:6.1%} of instructions, "
              f"{samples[count] / sampled:6.1%} of samples  ({top}); stalls: {named(stalls[count], sampled)}")
    print("reasons over the whole kernel: " + named(sum(stalls.values(), collections.Counter()), sampled, 8))
    print("instructions with the most samples:")
    at = {id(i): n for n, i in enumerate(instructions)}
    for i in sorted(instructions, key=lambda i: -int(i["Warp Stall Sampling (All Samples)"] or 0))[:blocks * 3]:
        before = instructions[at[id(i)] - 1]["Source"].strip() if at[id(i)] else ""
        print(f"  {int(i['Warp Stall Sampling (All Samples)'] or 0) / sampled:6.2%}  x{count_of(i):<9d} {i['Source'].strip()[:60]:60s}"
              f"  [{named(reasons(i), sampled, 2)}]  after: {before[:50]}")
    if listed_in_order:
        in_order(instructions, sampled)


if __name__ == "__main__":
    main()
