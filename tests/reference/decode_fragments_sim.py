#!/usr/bin/env python3
"""Lane-level simulation of the decode kernel's keys-as-rows tile (compiler/Kernels/Attention/KeysAsRowsTile.cs), run on
the CPU before any GPU: ldmatrix (plain and .trans), mma.sync m16n8k16, movmatrix.trans and the xor shuffles modelled
lane by lane, Sᵀ = K·Qᵀ, the online softmax down each head column, Oᵀ += Vᵀ·Pᵀ over tiles of 16 keys with the last one
masked, for the FP8 operand order (codes widened in registers, Q stored permuted, O's even/odd dimension rows) and the
fp16 one, GQA groups of 2, 8 and 16; against float64 softmax(QKᵀ/√d)V. Needs numpy. Prints the max error of each case
(float64 throughout, so ~1e-15 when the mappings are right)."""
import numpy as np
rng = np.random.default_rng(7)
L = 32
def g_(l): return l // 4
def t_(l): return l % 4

def ldmatrix(mats, trans):
    # mats: list of 8x8 arrays of b16 "units" (each unit: a tuple of 2 bytes or a scalar half) -> regs[lane][i]
    out = []
    for l in range(L):
        regs = []
        for m in mats:
            if not trans: regs.append((m[g_(l)][2*t_(l)], m[g_(l)][2*t_(l)+1]))
            else: regs.append((m[2*t_(l)][g_(l)], m[2*t_(l)+1][g_(l)]))
        out.append(regs)
    return out

def mma(C, A, B):
    # C[lane] = [c0..c3], A[lane] = [a0..a3] each a pair of values, B[lane] = [b0, b1] pairs; returns new C
    Am = np.zeros((16,16)); Bm = np.zeros((16,8)); Cm = np.zeros((16,8))
    for l in range(L):
        g, t = g_(l), t_(l)
        a = A[l]
        Am[g,2*t:2*t+2] = a[0]; Am[g+8,2*t:2*t+2] = a[1]; Am[g,2*t+8:2*t+10] = a[2]; Am[g+8,2*t+8:2*t+10] = a[3]
        b = B[l]
        Bm[2*t:2*t+2, g] = b[0]; Bm[2*t+8:2*t+10, g] = b[1]
        c = C[l]
        Cm[g,2*t:2*t+2] = c[0:2]; Cm[g+8,2*t:2*t+2] = c[2:4]
    D = Am @ Bm + Cm
    return [[D[g_(l),2*t_(l)], D[g_(l),2*t_(l)+1], D[g_(l)+8,2*t_(l)], D[g_(l)+8,2*t_(l)+1]] for l in range(L)]

def movmatrix_trans(regs):
    # regs[lane] = (x, y): row g, cols 2t, 2t+1 of an 8x8 matrix -> same layout of its transpose
    M = np.zeros((8,8))
    for l in range(L): M[g_(l),2*t_(l)], M[g_(l),2*t_(l)+1] = regs[l]
    T = M.T
    return [(T[g_(l),2*t_(l)], T[g_(l),2*t_(l)+1]) for l in range(L)]

def shfl_xor_reduce(vals, op):
    v = list(vals)
    for w in (4, 8, 16):
        v = [op(v[l], v[l ^ w]) for l in range(L)]
    return v

def run(fp8, G, D=128, keys_total=40):
    NT = (G + 7) // 8
    Q = rng.standard_normal((G, D)); K = rng.standard_normal((keys_total, D)); V = rng.standard_normal((keys_total, D))
    scale = 1 / np.sqrt(D) * np.log2(np.e)
    # Q rows padded to 8*NT heads, stored in the logical k order (store_q8) for fp8
    Qp = np.zeros((8*NT, D)); Qp[:G] = Q
    qs = np.zeros_like(Qp)
    for r in range(8*NT):
        for s in range(D//16):
            grp = Qp[r,16*s:16*s+16].reshape(8,2)
            if fp8:
                qs[r,16*s:16*s+8] = grp[[0,2,4,6]].reshape(-1); qs[r,16*s+8:16*s+16] = grp[[1,3,5,7]].reshape(-1)
            else: qs[r,16*s:16*s+16] = Qp[r,16*s:16*s+16]
    # Q^T B fragments, once: n-tile nt, k-step ks: ldmatrix non-trans of (heads 8nt.., cols 16ks + 0..7) and (+8..15)
    qb = {}
    for nt in range(NT):
        for ks in range(D//16):
            mats = [[[qs[8*nt+r, 16*ks+8*h+u] for u in range(8)] for r in range(8)] for h in range(2)]
            lm = ldmatrix([[[ (x,) for x in row] for row in m] for m in mats], False)
            # unit is a single half here: ldmatrix returns (unit[2t], unit[2t+1]) each a 1-tuple
            qb[nt,ks] = [ (lm[l][0][0][0], lm[l][0][1][0]) for l in range(L) ], [ (lm[l][1][0][0], lm[l][1][1][0]) for l in range(L) ]
    m_run = [[-np.inf]*2 for _ in range(L*NT)]  # per lane, per nt: 2 heads
    m_run = {(l,nt): [-np.inf, -np.inf] for l in range(L) for nt in range(NT)}
    l_run = {(l,nt): [0.0, 0.0] for l in range(L) for nt in range(NT)}
    ot = {(mt,nt): [[0.0]*4 for _ in range(L)] for mt in range(D//16) for nt in range(NT)}
    for t0 in range(0, keys_total, 16):
        Kt = np.zeros((16, D)); Vt = np.zeros((16, D)); n = min(16, keys_total - t0)
        Kt[:n] = K[t0:t0+n]; Vt[:n] = V[t0:t0+n]
        st = {nt: [[0.0]*4 for _ in range(L)] for nt in range(NT)}
        for ks in range(D//16):
            if fp8:
                # code tile rows as b16 pairs (2 codes); matrices (keys 0-7, chunk ks), (keys 8-15, chunk ks)
                mats = [[[ (Kt[k0+r,16*ks+2*u], Kt[k0+r,16*ks+2*u+1]) for u in range(8)] for r in range(8)] for k0 in (0,8)]
                kc = ldmatrix(mats, False)
                A = []
                for l in range(L):
                    r0, r1 = kc[l][0], kc[l][1]   # (codes 4t,4t+1), (4t+2,4t+3) of key g / g+8
                    A.append([r0[0], r1[0], r0[1], r1[1]])
            else:
                mats = [[[ (Kt[k0+r,16*ks+8*h+u],) for u in range(8)] for r in range(8)] for (k0,h) in ((0,0),(8,0),(0,1),(8,1))]
                kc = ldmatrix(mats, False)
                A = [[(kc[l][i][0][0], kc[l][i][1][0]) for i in range(4)] for l in range(L)]
            for nt in range(NT):
                b0, b1 = qb[nt,ks]
                st[nt] = mma(st[nt], A, [[b0[l], b1[l]] for l in range(L)])
        # mask keys past the end: rows g, g+8 -> key t0 + g (+8)
        for nt in range(NT):
            for l in range(L):
                for e in range(4):
                    if t0 + g_(l) + 8*(e//2) >= keys_total: st[nt][l][e] = -np.inf
        pb = {}
        for nt in range(NT):
            for hh in range(2):   # the thread's two head columns
                col = [max(st[nt][l][hh], st[nt][l][2+hh]) for l in range(L)]
                col = shfl_xor_reduce(col, max)
                for l in range(L):
                    m_old = m_run[l,nt][hh]; m_new = max(m_old, col[l])
                    base = 0.0 if m_new == -np.inf else m_new*scale
                    alpha = 2.0**(m_old*scale - base) if m_old != -np.inf else 0.0
                    m_run[l,nt][hh] = m_new
                    for e in (hh, 2+hh):
                        st[nt][l][e] = 2.0**(st[nt][l][e]*scale - base) if st[nt][l][e] != -np.inf else 0.0
                    l_run[l,nt][hh] = l_run[l,nt][hh]*alpha + st[nt][l][hh] + st[nt][l][2+hh]
                    for mt in range(D//16):
                        ot[mt,nt][l][hh] *= alpha; ot[mt,nt][l][2+hh] *= alpha
            lo = movmatrix_trans([(st[nt][l][0], st[nt][l][1]) for l in range(L)])
            hi = movmatrix_trans([(st[nt][l][2], st[nt][l][3]) for l in range(L)])
            pb[nt] = [[lo[l], hi[l]] for l in range(L)]
        for mt in range(D//16):
            if fp8:
                mats = [[[ (Vt[k0+r,16*mt+2*u], Vt[k0+r,16*mt+2*u+1]) for u in range(8)] for r in range(8)] for k0 in (0,8)]
                vc = ldmatrix(mats, True)   # lane: (unit row 2t, col g), (row 2t+1, col g) -> bytes V[2t][2g], V[2t][2g+1], V[2t+1][2g], V[2t+1][2g+1]
                A = []
                for l in range(L):
                    def split(reg):
                        b = [reg[0][0], reg[0][1], reg[1][0], reg[1][1]]
                        pr = [b[0], b[2], b[1], b[3]]   # prmt 0x3120
                        return (pr[0], pr[1]), (pr[2], pr[3])   # even dimension 2g, odd 2g+1
                    e0, o0 = split(vc[l][0]); e1, o1 = split(vc[l][1])
                    A.append([e0, o0, e1, o1])   # a0 row g (even d), a1 row g+8 (odd d), a2/a3 keys 8..15
            else:
                mats = [[[ (Vt[k0+r,16*mt+8*h+u],) for u in range(8)] for r in range(8)] for (k0,h) in ((0,0),(0,1),(8,0),(8,1))]
                vc = ldmatrix(mats, True)
                A = [[(vc[l][i][0][0], vc[l][i][1][0]) for i in range(4)] for l in range(L)]
            for nt in range(NT):
                ot[mt,nt] = mma(ot[mt,nt], A, pb[nt])
    # final: l reduced over g, output per head
    out = np.zeros((8*NT, D))
    for nt in range(NT):
        lsum = {hh: shfl_xor_reduce([l_run[l,nt][hh] for l in range(L)], lambda a,b: a+b) for hh in range(2)}
        for mt in range(D//16):
            for l in range(L):
                g, t = g_(l), t_(l)
                for e in range(4):
                    hh = e % 2; row = g + 8*(e//2); head = 8*nt + 2*t + hh
                    d = 16*mt + (2*(row % 8) + row // 8 if fp8 else row)
                    out[head, d] = ot[mt,nt][l][e] / lsum[hh][l]
    S = Q @ K.T / np.sqrt(D); P = np.exp(S - S.max(1, keepdims=True)); P /= P.sum(1, keepdims=True)
    ref = P @ V
    return np.abs(out[:G] - ref).max()

for fp8 in (True, False):
    for G in (8, 2, 16):
        print("fp8" if fp8 else "fp16", "G", G, "err", run(fp8, G, D=64 if G == 2 else 128))
