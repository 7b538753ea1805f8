# stamps3.py FILE WARPS: per-CTA decode stamps (session 18: 8-warp CTAs, 1 split ends at GC_END)
import sys, statistics as st
W = int(sys.argv[2])
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
def c(r, i): return r[i] - r[0]
last = lambda r: max(r[4 + w] for w in range(W))
for name, f in [("entry..qkv rows", lambda r: c(r, 2)), ("entry..prologue done", lambda r: c(r, 3)), ("entry..first tile w0", lambda r: c(r, 19)),
                ("entry..first warp end", lambda r: min(c(r, 4 + w) for w in range(W))),
                ("entry..last warp end", lambda r: last(r) - r[0]),
                ("warp ends spread", lambda r: last(r) - min(r[4 + w] for w in range(W))),
                ("last warp end..items", lambda r: r[12] - last(r)),
                ("items..pushed", lambda r: r[13] - r[12] if r[13] else None),
                ("pushed..cluster synced", lambda r: r[14] - r[13] if r[13] else None),
                ("synced..end", lambda r: r[15] - r[14] if r[14] else None),
                ("items..end (1 split)", lambda r: r[15] - r[12] if not r[13] else None),
                ("last warp end..end", lambda r: r[15] - last(r)),
                ("entry..end", lambda r: c(r, 15))]:
    v = [f(r) for r in rows]
    v = [x * ns for x in v if x is not None]
    if v: print("    %-24s" % name, q(v))
