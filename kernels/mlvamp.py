"""MAP ML-VAMP on one network (docs/algorithm.md), all iterations in one compiled call, for
B independent signals through the same network at once (rows of the state arrays).

The network and its signals come as the records of ``kernels.layout``.  Buffers are
allocated once, before the iterations.

Products with the factors per linear map and iteration: V^T r^+ and U uhat (forward),
U^T (r^- - b) and V shat (backward); the forward pass reuses the backward pass's
U^T (r^- - b), since r^- does not change in between: 2 n_in^2 + 2 n_out^2
multiply-adds (dense form) per signal.  With B > 1 signals the products are
matrix-matrix products (``kernels.haar.factor_apply_rows``).

One iteration is a forward pass (prior, then maps 1..L-1 produce zhat^+_l) and a
backward pass (maps L..1 produce zhat^-_{l-1}), each output followed by the
extrinsic update

    gam_out = gam_in (1 - alpha) / alpha,   r_out = (zhat - alpha r_in) / (1 - alpha),

optionally damped, with factors ``damping`` = (d_r^+, d_r^-, d_gam^+, d_gam^-) for the means
and precisions of the forward (+) and backward (-) messages:

    r <- d_r r_new + (1 - d_r) r_old,   gam <- d_gam gam_new + (1 - d_gam) gam_old

(gam_new from the undamped gam_in of this step).  The first forward pass has no old
message and is not damped; the first backward pass is damped with the initial r^-, gam^-.

With frozen precisions (``frozen``) gam_out keeps its given value and the update uses
alpha = gam_in / (gam_in + gam_out) in place of the divergence: Peaceman-Rachford
ADMM (``mcsim.admm``, the seed's Theorem 1).
"""
import numpy as np
from numba import njit

from .activations import activation_prox_vector
from .haar import factor_apply_rows
from .layout import LINEAR, widest
from .linear import linear_backward, linear_forward
from .priors import prior_prox_vector

# rows of the record array ``out[quantity, t, l]``, by name
RECORD_NAMES = ("tau_plus", "tau_minus", "alpha_plus", "alpha_minus", "gamma_plus", "gamma_minus",
                "rp_mse", "rp_overlap", "rm_mse", "rm_overlap")
ROW = {name: row for row, name in enumerate(RECORD_NAMES)}
TAU_PLUS, TAU_MINUS, ALPHA_PLUS, ALPHA_MINUS, GAMMA_PLUS, GAMMA_MINUS = 0, 1, 2, 3, 4, 5
RP_MSE, RP_OVERLAP, RM_MSE, RM_OVERLAP = 6, 7, 8, 9
N_RECORDS = len(RECORD_NAMES)
PLUS_ROWS = (TAU_PLUS, ALPHA_PLUS, GAMMA_PLUS, RP_MSE, RP_OVERLAP)
MINUS_ROWS = (TAU_MINUS, ALPHA_MINUS, GAMMA_MINUS, RM_MSE, RM_OVERLAP)


def factor_products(kind, iterations):
    """Products a run of ``iterations`` iterations takes per signal with the factors of
    each linear map j: {j: ((Q v, Q^T w) of U_j, (Q v, Q^T w) of V_j)} (module docstring:
    U^T (r^- - b) once more at the first forward pass; the measurement's U_L only U^T (y - b))."""
    T, L = iterations, len(kind)
    return {j: (((0, 1) if j == L - 1 else (T, T + 1)), (T, T)) for j in range(L) if kind[j] == LINEAR}


@njit(cache=True)
def _mean_sq_diff(x, z0):
    total = 0.0
    for i in range(x.size):
        total += (x[i] - z0[i]) ** 2
    return total / x.size


@njit(cache=True)
def _overlap(r, z0, b):
    """<r - z0, z0 - b> / n."""
    total = 0.0
    for i in range(r.size):
        total += (r[i] - z0[i]) * (z0[i] - b[i])
    return total / r.size


@njit(cache=True)
def _extrinsic(zhat, alpha, r_in, r_out, d):
    """r_out <- d (zhat - alpha r_in)/(1 - alpha) + (1 - d) r_out."""
    for i in range(r_out.size):
        r_out[i] = d * (zhat[i] - alpha * r_in[i]) / (1.0 - alpha) + (1.0 - d) * r_out[i]


@njit(cache=True)
def _record(out, rows, t, l, zhat, z0, alpha, gam, r, b):
    row_tau, row_alpha, row_gamma, row_mse, row_ovl = rows
    out[row_tau, t, l] = _mean_sq_diff(zhat, z0)
    out[row_alpha, t, l] = alpha
    out[row_gamma, t, l] = gam
    out[row_mse, t, l] = _mean_sq_diff(r, z0)
    out[row_ovl, t, l] = _overlap(r, z0, b)


@njit(cache=True)
def damped_precision(gam_in, alpha, gam_old, d_prec):
    """gam = d_gam gam_in (1 - alpha) / alpha + (1 - d_gam) gam_old (docs/algorithm.md, section 3)."""
    return d_prec * gam_in * (1.0 - alpha) / alpha + (1.0 - d_prec) * gam_old


@njit(cache=True)
def _accept(out, rows, t, l, zhat, z0, b, alpha, r_in, gam_in, r_out, gam_old, d_mean, d_prec, first, frozen):
    """One output of one signal: check alpha, update its extrinsic message r_out and its
    precision (damped by d_mean, d_prec unless ``first``), record.  Returns the new
    precision, or NaN when the signal must stop (alpha outside (0, 1), a non-finite
    error, a non-positive precision).  With ``frozen`` precisions gam_old is kept and
    alpha is not used (module docstring)."""
    dr = 1.0 if first else d_mean
    dg = 1.0 if first else d_prec
    if frozen:
        _extrinsic(zhat, gam_in / (gam_in + gam_old), r_in, r_out, dr)
        gam = gam_old
    elif alpha > 0.0 and alpha < 1.0:
        _extrinsic(zhat, alpha, r_in, r_out, dr)
        gam = damped_precision(gam_in, alpha, gam_old, dg)
    else:
        return np.nan
    _record(out, rows, t, l, zhat, z0, alpha, gam, r_out, b)
    healthy = np.isfinite(out[rows[0], t, l]) and np.isfinite(out[rows[3], t, l]) and 0.0 < gam < np.inf
    return gam if healthy else np.nan


@njit(cache=True)
def active_signals(active):
    """Indices of the signals still running."""
    return np.nonzero(active)[0]


@njit(cache=True)
def _stop(b, t, active, valid, r_plus, r_minus, work, zhat_plus, zhat_minus):
    """Signal b stops at iteration t: its messages, work row and estimates become NaN, so
    that its later factor products are NaN (a lazy factor takes no pair from them) and
    no prox is evaluated on it again."""
    active[b] = False
    valid[b] = t
    for rows in (r_plus, r_minus, work, zhat_plus, zhat_minus):
        rows[b, :] = np.nan


@njit(cache=True)
def _minus_bias(x, b, out):
    for i in range(x.size):
        out[i] = x[i] - b[i]


@njit(cache=True)
def mlvamp_run(net, signals, gam_plus, frozen, iterations, damping, jump_steps, div_kernel, out, valid, zhat_plus,
               zhat_minus):
    """Run ML-VAMP on the B signals ``signals`` through ``net`` (``kernels.layout``), with
    gam_plus (B, L); fills ``out`` (B, N_RECORDS, iterations, L), ``valid`` (B,), the count
    of valid iterations of each signal, and the last estimates zhat^+_l, zhat^-_l
    (l = 0..L-1) in ``zhat_plus``, ``zhat_minus`` (B, sum n_l).

    ``signals.r_minus``/``signals.gam_minus`` hold the initial r^-_l, gam^-_l (l = 0..L-1) and are updated;
    ``gam_plus`` is used (as the frozen gam^+_l) only when ``frozen``.  ``jump_steps[j]``:
    the divergence of activation map j, 0 for the a.e. derivative, else the step of a central
    difference or the bandwidth of a kernel estimate of the jumps, as ``div_kernel`` says
    (``kernels.activations.activation_prox_vector``).
    A signal stops at the first alpha outside (0, 1) or not finite, non-finite error or
    non-positive precision (``valid`` = that iteration; its estimates are NaN); the others go on.
    """
    voff, kind, act_code, act_par, nv, bias = net.voff, net.kind, net.act_code, net.act_par, net.nv, net.bias
    mats, ftab, ufac, vfac, sig, soff = net.mats, net.ftab, net.ufac, net.vfac, net.sig, net.soff
    y, z0, bvar, r_minus, gam_minus = signals.y, signals.z0, signals.bvar, signals.r_minus, signals.gam_minus
    B = y.shape[0]
    L = kind.size
    total = voff[L]
    r_plus = np.zeros((B, total))
    s_t = np.zeros((B, total))
    nmax = widest(voff)
    u_t = np.zeros((B, voff[L + 1]))  # u~ = U^T (r^-_l - b) at the offsets of z_l (the measurement's: U^T (y - b))
    work = np.zeros((B, nmax))
    shifted = np.zeros((B, nmax))  # r^-_l - b
    buf = np.empty(B * nmax)
    res = np.empty(B * nmax)
    alpha = np.zeros(B)
    active = np.ones(B, np.bool_)
    valid[:] = iterations
    # U^T (y - b) of the measurement, fixed
    jL = L - 1
    nL = voff[L + 1] - voff[L]
    if kind[jL] == LINEAR:
        for b in range(B):
            _minus_bias(y[b], bias[voff[L]:voff[L + 1]], shifted[b, :nL])
        factor_apply_rows(mats, ftab[ufac[jL]], True, shifted, 0, u_t, voff[L], buf, res)

    for t in range(iterations):
        # ---------------------------------------------------------------- forward
        for l in range(L):
            a0, a1 = voff[l], voff[l + 1]
            if l == 0:
                for b in active_signals(active):
                    alpha[b] = prior_prox_vector(net.prior_code, net.prior_par, r_minus[b, a0:a1], gam_minus[b, 0],
                                                 zhat_plus[b, a0:a1])
            else:
                j = l - 1
                p0, p1 = voff[j], voff[j + 1]
                n_out = a1 - a0
                if kind[j] == LINEAR:
                    factor_apply_rows(mats, ftab[vfac[j]], True, r_plus, p0, s_t, p0, buf, res)
                    if t == 0:  # later, r^-_l is unchanged since the backward pass computed u~
                        for b in range(B):
                            _minus_bias(r_minus[b, a0:a1], bias[a0:a1], shifted[b, :n_out])
                        factor_apply_rows(mats, ftab[ufac[j]], True, shifted, 0, u_t, a0, buf, res)
                    for b in active_signals(active):
                        alpha[b] = linear_forward(sig[soff[j]:soff[j + 1]], nv[j], gam_plus[b, j], gam_minus[b, l],
                                                  s_t[b, p0:p1], u_t[b, a0:a1], work[b, :n_out])
                    factor_apply_rows(mats, ftab[ufac[j]], False, work, 0, zhat_plus, a0, buf, res)
                    zhat_plus[:, a0:a1] += bias[a0:a1]
                else:
                    for b in active_signals(active):
                        _, alpha[b] = activation_prox_vector(act_code[j], act_par[j], nv[j], r_plus[b, p0:p1],
                                                             r_minus[b, a0:a1], gam_plus[b, j], gam_minus[b, l],
                                                             work[b, :n_out], zhat_plus[b, a0:a1], jump_steps[j],
                                                             div_kernel)
            for b in range(B):
                if active[b]:
                    gam = _accept(out[b], PLUS_ROWS, t, l, zhat_plus[b, a0:a1], z0[b, a0:a1], bvar[a0:a1], alpha[b],
                                  r_minus[b, a0:a1], gam_minus[b, l], r_plus[b, a0:a1], gam_plus[b, l], damping[0],
                                  damping[2], t == 0,
                                  frozen)
                    gam_plus[b, l] = gam
                    if not np.isfinite(gam):
                        _stop(b, t, active, valid, r_plus, r_minus, work, zhat_plus, zhat_minus)
        # --------------------------------------------------------------- backward
        for j in range(L - 1, -1, -1):
            p0, p1 = voff[j], voff[j + 1]
            q0, q1 = voff[j + 1], voff[j + 2]
            n_in, n_out = p1 - p0, q1 - q0
            measured = j == L - 1
            if kind[j] == LINEAR:  # s~ = V^T r^+ is the forward pass's, except for the measurement
                if measured:
                    factor_apply_rows(mats, ftab[vfac[j]], True, r_plus, p0, s_t, p0, buf, res)
                else:
                    for b in range(B):
                        _minus_bias(r_minus[b, q0:q1], bias[q0:q1], shifted[b, :n_out])
                    factor_apply_rows(mats, ftab[ufac[j]], True, shifted, 0, u_t, q0, buf, res)
                for b in active_signals(active):
                    gm = np.inf if measured else gam_minus[b, j + 1]
                    alpha[b] = linear_backward(sig[soff[j]:soff[j + 1]], nv[j], gam_plus[b, j], gm,
                                               s_t[b, p0:p1], u_t[b, q0:q1], work[b, :n_in])
                factor_apply_rows(mats, ftab[vfac[j]], False, work, 0, zhat_minus, p0, buf, res)
            else:
                for b in active_signals(active):
                    gm = np.inf if measured else gam_minus[b, j + 1]
                    c = y[b] if measured else r_minus[b, q0:q1]
                    alpha[b], _ = activation_prox_vector(act_code[j], act_par[j], nv[j], r_plus[b, p0:p1], c,
                                                         gam_plus[b, j], gm, zhat_minus[b, p0:p1], work[b, :n_out],
                                                         jump_steps[j], div_kernel)
            for b in range(B):
                if active[b]:
                    gam = _accept(out[b], MINUS_ROWS, t, j, zhat_minus[b, p0:p1], z0[b, p0:p1], bvar[p0:p1], alpha[b],
                                  r_plus[b, p0:p1], gam_plus[b, j], r_minus[b, p0:p1], gam_minus[b, j], damping[1],
                                  damping[3], False,
                                  frozen)
                    gam_minus[b, j] = gam
                    if not np.isfinite(gam):
                        _stop(b, t, active, valid, r_plus, r_minus, work, zhat_plus, zhat_minus)
        if not active.any():
            break
