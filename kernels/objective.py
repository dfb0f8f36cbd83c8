"""The MAP objective of a network and its gradient (docs/algorithm.md, section 1), for B signals.

    F(z) = f_0(z_0) + sum over noisy maps l of |z_l - h_l(z_{l-1})|^2 / (2 nv_l),   z_L = y,

f_0(z) = |z|^2 / (2 var) (gaussian) or lam |z|_1 (l1); h_l(x) = W_l x + b_l (linear,
W = U diag(sigma) V^T) or phi(x) (phi(x) = x for x >= 0, slope x for x < 0).  A map
with nv_l = 0 is deterministic: z_l = h_l(z_{l-1}) is substituted, so the free
variables are z_0 and the outputs of noisy maps l < L (all hidden variables of a
stochastic network; z_0 alone for a deterministic generator).

The gradient is back-propagated: the adjoint a_l = dF/dz_l (total derivative) is,
from l = L - 1 down to 0,

    a_l = [map l noisy] e_l / nv_l + J_{l+1}^T ([map l+1 noisy] (-e_{l+1} / nv_{l+1})
                                                 + [map l+1 deterministic] a_{l+1})

with e_l = z_l - h_l(z_{l-1}) and J = W or diag(phi'(x)); a_0 adds grad f_0.  At a kink
(x = 0) phi'(x) is taken from ``dphi`` where it is finite, else phi'(0) = slope; the
l1 penalty's derivative at 0 is taken as 0.  Subgradient choices are made by the
caller (``mcsim.objective``).
"""
import numpy as np
from numba import njit

from .activations import phi, phi_derivative
from .haar import factor_apply
from .layout import LINEAR, widest
from .priors import GAUSSIAN


@njit(cache=True)
def _linear_map(mats, ufac, vfac, sigma, x, out, tmp, transpose):
    """out <- W x (or W^T x), W = U diag(sigma) V^T, with the table rows ``ufac``, ``vfac``
    of U and V (``kernels.haar``); ``tmp`` has room for max(n_in, n_out)."""
    k = sigma.size
    first, second = (ufac, vfac) if transpose else (vfac, ufac)
    t1 = tmp[:x.size]
    factor_apply(mats, first, True, x, t1)
    t2 = np.zeros(out.size)
    for i in range(k):
        t2[i] = sigma[i] * t1[i]
    factor_apply(mats, second, False, t2, out)


@njit(cache=True)
def objective_grad(net, y, z, dphi, grad):
    """F(z) of one signal of ``net`` (``kernels.layout``); fills ``grad`` with the adjoints a_0 .. a_{L-1} (module
    docstring).  ``z`` (sum n_l over l < L) holds the free variables; the outputs of
    deterministic maps are overwritten with h_l(z_{l-1}).  ``dphi`` (same layout)
    overrides phi'(x) of the input x of an activation where finite."""
    voff, kind, nv, bias, prior_code, prior_par = net.voff, net.kind, net.nv, net.bias, net.prior_code, net.prior_par
    mats, ftab, ufac, vfac, sig, soff = net.mats, net.ftab, net.ufac, net.vfac, net.sig, net.soff
    L = kind.size
    nmax = widest(voff)
    tmp = np.empty(nmax)
    h = np.empty(voff[L + 1])       # h_l(z_{l-1}) at the offsets of z_l
    scaled = np.zeros(voff[L + 1])  # e_l / nv_l of noisy maps
    value = 0.0
    n0 = voff[1]
    for i in range(n0):
        if prior_code == GAUSSIAN:
            value += z[i] * z[i] / (2.0 * prior_par)
        else:
            value += prior_par * abs(z[i])
    for j in range(L):  # map l = j + 1: z_j -> z_{j+1}
        p0, p1, q0, q1 = voff[j], voff[j + 1], voff[j + 1], voff[j + 2]
        x = z[p0:p1]
        hj = h[q0:q1]
        if kind[j] == LINEAR:
            _linear_map(mats, ftab[ufac[j]], ftab[vfac[j]], sig[soff[j]:soff[j + 1]], x, hj, tmp, False)
            for i in range(q1 - q0):
                hj[i] += bias[q0 + i]
        else:
            for i in range(q1 - q0):
                hj[i] = phi(net.act_code[j], net.act_par[j], x[i])
        out = y if j == L - 1 else z[q0:q1]
        if nv[j] == 0.0:
            out[:] = hj
        else:
            for i in range(q1 - q0):
                e = out[i] - hj[i]
                value += e * e / (2.0 * nv[j])
                scaled[q0 + i] = e / nv[j]
    grad[:] = 0.0
    adjoint = np.empty(nmax)  # a_l of the output of the map being processed
    for j in range(L - 1, -1, -1):
        p0, p1, q0, q1 = voff[j], voff[j + 1], voff[j + 1], voff[j + 2]
        a = adjoint[:q1 - q0]
        for i in range(q1 - q0):  # what map j + 1 passes down: -e/nv (noisy) or the output's adjoint
            if nv[j] == 0.0:
                a[i] = grad[q0 + i]
            else:
                a[i] = -scaled[q0 + i]
            if j < L - 1 and nv[j] != 0.0:
                grad[q0 + i] += scaled[q0 + i]
        down = grad[p0:p1]
        if kind[j] == LINEAR:
            back = np.empty(p1 - p0)
            _linear_map(mats, ftab[ufac[j]], ftab[vfac[j]], sig[soff[j]:soff[j + 1]], a, back, tmp, True)
            for i in range(p1 - p0):
                down[i] += back[i]
        else:
            for i in range(p1 - p0):
                d = dphi[p0 + i]
                if not np.isfinite(d):
                    d = phi_derivative(net.act_code[j], net.act_par[j], z[p0 + i])
                down[i] += d * a[i]
    for i in range(n0):
        if prior_code == GAUSSIAN:
            grad[i] += z[i] / prior_par
        elif z[i] != 0.0:
            grad[i] += prior_par * np.sign(z[i])
    return value
