# stamps.py FILE: per-CTA decode stamps of the temporary GC_STAMPS build (stamps-instrumentation.patch, 8-warp CTAs), ns
# from each CTA's entry. Each warp's clock64 is corrected by its sub-partition's offset, read just past the prologue's
# first barrier (every warp released together); thread 0's stamps need none. Cycles become ns by the median of the CTAs'
# globaltimer span over their clock span.
import sys, statistics as st
S = {tuple(l.split()[1:4]): list(map(int, l.split()[1:])) for l in open(sys.argv[1]) if l.startswith("S ")}
T = {tuple(l.split()[1:4]): list(map(int, l.split()[4:])) for l in open(sys.argv[1]) if l.startswith("T ")}
rows = [(S[k], T[k]) for k in S if k in T and len(S[k]) == 26 and len(T[k]) == 12]
if not rows: print("no stamps"); sys.exit()
ns = st.median((r[25] - r[24]) / r[23] for r, _ in rows if r[23] > 0)
g0 = min(r[24] for r, _ in rows)
def q(v):
    v = sorted(v); n = len(v)
    return "med %6.0f p10 %6.0f p90 %6.0f max %6.0f" % (v[n // 2], v[n // 10], v[9 * n // 10], v[-1])
off = lambda t: [t[w] - t[0] for w in range(8)]
F = lambda r, t: [r[6 + w] - off(t)[w] for w in range(8)]
L = lambda r, t: [r[14 + w] - off(t)[w] for w in range(8)]
print("CTAs %d, ns/cycle %.4f (%.0f MHz), first start .. last item stored %.0f ns" % (len(rows), ns, 1000 / ns, max(r[25] for r, _ in rows) - g0))
for name, f in [("start offset", lambda r, t: (r[24] - g0) / ns),
                ("sub-partition clock offsets", lambda r, t: max(off(t)) - min(off(t))),
                ("rows and angles barrier", lambda r, t: r[4]), ("prologue done", lambda r, t: r[5]),
                ("first tile (first warp)", lambda r, t: min(F(r, t))), ("first tile (last warp)", lambda r, t: max(F(r, t))),
                ("first warp end", lambda r, t: min(L(r, t))), ("mean warp end", lambda r, t: sum(L(r, t)) / 8),
                ("last warp end", lambda r, t: max(L(r, t))), ("warp ends spread", lambda r, t: max(L(r, t)) - min(L(r, t))),
                ("partials barrier", lambda r, t: r[22]),
                ("item: max known", lambda r, t: t[8]), ("item: step tokens in", lambda r, t: t[9]),
                ("item: warps in", lambda r, t: t[10]), ("item: stored", lambda r, t: t[11]),
                ("thread 0's items done", lambda r, t: r[23]), ("end from first start", lambda r, t: (r[25] - g0) / ns)]:
    print("    %-28s" % name, q([f(r, t) * ns for r, t in rows]))
