"""The hardtanh factor's kernels: phi(x) = clip(x, -1, 1) (as in tramp).

MAP prox of the matched factor, reduced to x (``kernels.activations``):

    x* = argmin_x kappa/2 (phi(x) - c)^2 + gp/2 (x - a)^2.

On each piece of phi the minimiser is affine in a: the middle piece (phi = x) gives
x_m = (kappa c + gp a) / (kappa + gp) clamped to [-1, 1]; the flat pieces give
x_l = min(a, -1) (phi = -1) and x_r = max(a, 1) (phi = 1).  x* is the candidate of
least cost.  Both kinks are concave where |c| < 1, so x* jumps there: the problem is
not convex.

Breakpoints in a (for fixed c) are where a candidate's clamp starts or ends and where
two candidates' costs cross.  Each candidate's cost is a quadratic in a: the middle
(unclamped) w/2 (a - c)^2, w = kappa gp / (kappa + gp); a flat piece at h = -1 or +1
is kappa/2 (h - c)^2, plus gp/2 (a - h)^2 once clamped to x = h.  All crossings of
these quadratics are returned (a superset: extra points only split affine pieces).
"""
import numpy as np
from numba import njit

MAX_BREAKS = 18  # 4 clamp points and at most 2 roots of each of 7 cost differences
LOW, HIGH = -1.0, 1.0  # the kinks of phi


@njit(cache=True)
def phi(x):
    return min(max(x, LOW), HIGH)


@njit(cache=True)
def phi_derivative(x):
    return 1.0 if LOW < x < HIGH else 0.0


@njit(cache=True)
def _cost(x, a, c, gp, kappa):
    return 0.5 * kappa * (phi(x) - c) ** 2 + 0.5 * gp * (x - a) ** 2


@njit(cache=True)
def prox(a, c, gp, kappa):
    """x* (module docstring) and (dx*/da, dx*/dc, phi'(x*)) of the selected candidate."""
    den = kappa + gp
    xm = (kappa * c + gp * a) / den
    best, da, dc, dh = xm, gp / den, kappa / den, 1.0
    if xm <= -1.0 or xm >= 1.0:
        best, da, dc, dh = min(max(xm, -1.0), 1.0), 0.0, 0.0, 0.0
    cost = _cost(best, a, c, gp, kappa)
    for h in (-1.0, 1.0):
        inside = a < h if h < 0 else a > h
        x = a if inside else h
        k = _cost(x, a, c, gp, kappa)
        if k < cost:
            best, cost, dc, dh = x, k, 0.0, 0.0
            da = 1.0 if inside else 0.0
    return best, da, dc, dh


@njit(cache=True)
def _roots_into(A, B, C, out, count):
    """Append the real roots of A a^2 + B a + C = 0 to ``out``; returns the new count."""
    if abs(A) < 1e-300:
        if abs(B) > 1e-300:
            out[count] = -C / B
            count += 1
        return count
    disc = B * B - 4.0 * A * C
    if disc >= 0.0:
        s = np.sqrt(disc)
        out[count] = (-B - s) / (2.0 * A)
        out[count + 1] = (-B + s) / (2.0 * A)
        count += 2
    return count


@njit(cache=True)
def breakpoints_into(c, gp, kappa, out):
    """The breakpoints in a (module docstring) into ``out`` (size >= MAX_BREAKS); their count."""
    den = kappa + gp
    out[0] = (-den - kappa * c) / gp  # x_m = -1
    out[1] = (den - kappa * c) / gp   # x_m = +1
    out[2] = -1.0
    out[3] = 1.0
    count = 4
    w = kappa * gp / den
    # quadratics A a^2 + B a + C: the middle, and each flat piece unclamped and clamped
    qa = np.array([0.5 * w, 0.0, 0.5 * gp, 0.0, 0.5 * gp])
    qb = np.array([-w * c, 0.0, gp, 0.0, -gp])
    qc = np.array([0.5 * w * c * c, 0.5 * kappa * (1.0 + c) ** 2, 0.5 * gp + 0.5 * kappa * (1.0 + c) ** 2,
                   0.5 * kappa * (1.0 - c) ** 2, 0.5 * gp + 0.5 * kappa * (1.0 - c) ** 2])
    for i in range(5):
        for j in range(i + 1, 5):
            if i == 1 and j == 2 or i == 3 and j == 4 or i == 1 and j == 3:
                continue  # one piece's own two forms meet at its clamp point; two constants never cross
            count = _roots_into(qa[i] - qa[j], qb[i] - qb[j], qc[i] - qc[j], out, count)
    return count
