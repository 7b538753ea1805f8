# stamps2.py FILE [WARPS]: the decode kernel's per-CTA stamps (session 17 layout: S cta v0..v23)
import sys, statistics as st
W = int(sys.argv[2]) if len(sys.argv) > 2 else 4
rows = [list(map(int, l.split()[1:])) for l in open(sys.argv[1]) if l.startswith("S ")]
rows = [r[1:] for r in rows if r[2] > 0 and r[16] > 0]
if not rows: print("no stamps"); sys.exit()
g0 = min(r[1] for r in rows)
ns = st.median((r[16] - r[1]) / (r[15] - r[0]) for r in rows if r[15] > r[0])
def q(v):
    v = sorted(v); n = len(v)
    return "n %4d min %6.0f p10 %6.0f med %6.0f p90 %6.0f max %6.0f" % (n, v[0], v[n // 10], v[n // 2], v[9 * n // 10], v[-1])
print("CTAs %d, ns/cycle %.3f; kernel span (first start .. last end) %.0f ns" % (len(rows), ns, max(r[16] for r in rows) - g0))
print("  start offset        ", q([r[1] - g0 for r in rows]))
print("  end offset          ", q([r[16] - g0 for r in rows]))
def c(r, i): return r[i] - r[0] if i is not None else 0
for label, sel in [("all", lambda r: True), ("holds_new", lambda r: r[18] >= 100), ("others", lambda r: r[18] < 100)]:
    rs = [r for r in rows if sel(r)]
    if not rs or (label != "all" and len(rs) == len(rows)): continue
    print(" ", label)
    for name, f in [("entry..qkv rows", lambda r: c(r, 2)), ("entry..prologue done", lambda r: c(r, 3)), ("entry..first tile w0", lambda r: c(r, 19)),
                    ("entry..first warp end", lambda r: min(c(r, 4 + w) for w in range(W))),
                    ("entry..last warp end", lambda r: max(c(r, 4 + w) for w in range(W))),
                    ("warp ends spread", lambda r: max(c(r, 4 + w) for w in range(W)) - min(c(r, 4 + w) for w in range(W))),
                    ("last warp end..synced A", lambda r: r[12] - max(r[4 + w] for w in range(W))),
                    ("A..merged (old)", lambda r: r[20] - r[12] if r[20] > 0 and r[21] == 0 else None),
                    ("A..pushed", lambda r: r[13] - r[12]),
                    ("A..items pass 1", lambda r: r[20] - r[12] if r[20] > 0 else None),
                    ("items pass 2", lambda r: r[21] - r[20] if r[21] > 0 else None),
                    ("synced..combine pass 1", lambda r: r[22] - r[14] if r[22] > 0 else None),
                    ("combine pass 2", lambda r: r[23] - r[22] if r[23] > 0 else None),
                    ("pushed..cluster synced", lambda r: r[14] - r[13]),
                    ("synced..end", lambda r: r[15] - r[14]),
                    ("last warp end..end", lambda r: r[15] - max(r[4 + w] for w in range(W))),
                    ("entry..end", lambda r: c(r, 15))]:
        v = [f(r) for r in rs]
        v = [x * ns for x in v if x is not None]
        if v: print("    %-24s" % name, q(v))
    # the cluster: its slowest CTA's last warp end against each CTA's
    by = {}
    for r in rs: by.setdefault((r[21], r[22]), []).append(r)
    spread = [ (max(max(x[4 + w] - x[0] for w in range(W)) * 1 for x in v) - min(max(x[4 + w] - x[0] for w in range(W)) for x in v)) * ns for v in by.values() if len(v) > 1]
    if spread: print("    %-24s" % "cluster's last-warp spread", q(spread))
