# stamps.py FILE [NS_PER_CYCLE]: per-CTA decode stamps of the temporary GC_STAMPS build (8-warp CTAs), ns from each CTA's
# entry (its clock64 scaled by the median of the CTAs' globaltimer span over their clock span)
import sys, statistics as st
rows = [list(map(int, l.split()[1:])) for l in open(sys.argv[1]) if l.startswith("S ")]
rows = [r for r in rows if len(r) == 26]   # x y z splits | R P F0..F7 L0..L7 B X | g0 gX
if not rows: print("no stamps"); sys.exit()
ns = st.median((r[25] - r[24]) / r[23] for r in rows if r[23] > 0)
g0 = min(r[24] for r in rows)
def q(v):
    v = sorted(v); n = len(v)
    return "med %6.0f p10 %6.0f p90 %6.0f max %6.0f" % (v[n // 2], v[n // 10], v[9 * n // 10], v[-1])
print("CTAs %d, ns/cycle %.4f (%.0f MHz), first start .. last end %.0f ns" % (len(rows), ns, 1000 / ns, max(r[25] for r in rows) - g0))
F = lambda r: r[6:14]; L = lambda r: r[14:22]
for name, f in [("start offset", lambda r: (r[24] - g0) / ns), ("rows and angles barrier", lambda r: r[4]), ("prologue done", lambda r: r[5]),
                ("first tile (first warp)", lambda r: min(F(r))), ("first tile (last warp)", lambda r: max(F(r))),
                ("first warp end", lambda r: min(L(r))), ("mean warp end", lambda r: sum(L(r)) / 8), ("last warp end", lambda r: max(L(r))),
                ("warp ends spread", lambda r: max(L(r)) - min(L(r))), ("partials barrier", lambda r: r[22]),
                ("thread 0's item stored", lambda r: r[23]), ("end from first start", lambda r: (r[25] - g0) / ns)]:
    print("    %-26s" % name, q([f(r) * ns for r in rows]))
