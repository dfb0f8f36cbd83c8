"""Proximal maps of the separable activation factors f_l(z, x), with derivatives, and the
true activations phi they belong to.

Each activation factor is passed as its ``code`` and a parameter record ``par``
(a float array of length ``N_PAR``): PWL and LIFTED_RELU read the slope from
``par[SLOPE]`` (relu: 0, identity: 1) and LIFTED_RELU its nu from ``par[NU]``.

The joint prox of layer l (z = z_l, x = z_{l-1}) is

    (x*, z*) = argmin f(z, x) + gm/2 (z - c)^2 + gp/2 (x - a)^2,   a = r_{l-1}^+, c = r_l^-.

Codes:
 PWL (0): the matched factor of z = phi(x) + N(0, nv), phi(x) = x (x >= 0), slope x (x < 0)
     (relu: slope 0, identity: slope 1). Eliminating z leaves
     kappa/2 (phi(x) - c)^2 + gp/2 (x - a)^2, kappa = gm / (1 + nv gm), solved by
     comparing the branch minimisers x >= 0 and x <= 0 (not convex: x* jumps);
     z* = (phi(x*) + nv gm c) / (1 + nv gm).
 LIFTED_RELU (1): f = nu/2 (z - x)^2 + I(z >= 0) (convex, Lipschitz prox):
     z* = max(0, (k2 a + gm c) / (k2 + gm)), k2 = nu gp / (nu + gp),
     x* = (nu z* + gp a) / (nu + gp).
 HARDTANH (2): the matched factor of z = clip(x, -1, 1) + N(0, nv), reduced to x as for
     PWL and solved by comparing its three pieces' minimisers (``kernels.hardtanh``).
For the measurement (gm = inf, c = y): kappa = 1/nv and z* = y.
"""
import numpy as np
from numba import njit

from . import hardtanh
from .linear import kappa_of

PWL, LIFTED_RELU, HARDTANH = 0, 1, 2
SLOPE, NU = 0, 1  # fields of the parameter record
N_PAR = 2
MAX_BREAKS = max(4, hardtanh.MAX_BREAKS)  # most breakpoints any factor's prox has in a, for fixed c
# by code: is the prox positively homogeneous in (a, c), so linear on sectors between rays
# from the origin (its breakpoints are a = beta c)?  The SE integrates those in closed form.
CONIC = np.array([True, True, False])
CENTRAL, GAUSS_KERNEL, FLAT_TOP = 0, 1, 2  # how a divergence with a step treats the jumps
JUMP_PROBE = 1e-10  # relative offset at which ``_jump`` reads the prox on either side of a breakpoint
JUMP_FLOOR = 1e-7  # a breakpoint whose jump is below this (relative) is a kink: the prox is continuous there


@njit(cache=True)
def pwl(x, slope):
    """x (x >= 0), slope x (x < 0)."""
    return x if x >= 0.0 else slope * x


@njit(cache=True)
def phi(code, par, x):
    """The true activation of a factor: x (x >= 0), slope x (x < 0) for PWL and LIFTED_RELU;
    clip(x, -1, 1) for HARDTANH."""
    if code == HARDTANH:
        return hardtanh.phi(x)
    return pwl(x, par[SLOPE])


@njit(cache=True)
def phi_derivative(code, par, x):
    """phi'(x), with phi'(kink) the slope on its left (PWL) or 0 (HARDTANH)."""
    if code == HARDTANH:
        return hardtanh.phi_derivative(x)
    return 1.0 if x > 0.0 else par[SLOPE]


@njit(cache=True)
def kinks(code):
    """The points where phi is not differentiable."""
    if code == HARDTANH:
        return np.array([hardtanh.LOW, hardtanh.HIGH])
    return np.zeros(1)


@njit(cache=True)
def phi_vector(code, par, x, out):
    """out <- phi(x) componentwise."""
    for i in range(x.size):
        out[i] = phi(code, par, x[i])


@njit(cache=True)
def _pwl_branch(a, c, gp, kappa, s):
    """Minimiser over x of kappa/2 (s x - c)^2 + gp/2 (x - a)^2 and its cost (unconstrained)."""
    den = kappa * s * s + gp
    x = (kappa * s * c + gp * a) / den
    return x, den


@njit(cache=True)
def _pwl_cost(x, a, c, gp, kappa, slope):
    return 0.5 * kappa * (pwl(x, slope) - c) ** 2 + 0.5 * gp * (x - a) ** 2


@njit(cache=True)
def pwl_prox(a, c, gp, kappa, slope):
    """x* = argmin kappa/2 (phi(x) - c)^2 + gp/2 (x - a)^2 and (dx*/da, dx*/dc, phi'(x*)).

    Derivatives are those of the selected branch (the a.e. derivative).
    """
    x1, den1 = _pwl_branch(a, c, gp, kappa, 1.0)
    x2, den2 = _pwl_branch(a, c, gp, kappa, slope)
    in1 = x1 >= 0.0
    in2 = x2 <= 0.0
    if not in1:
        x1 = 0.0
    if not in2:
        x2 = 0.0
    if _pwl_cost(x1, a, c, gp, kappa, slope) <= _pwl_cost(x2, a, c, gp, kappa, slope):
        if in1:
            return x1, gp / den1, kappa / den1, 1.0
        return 0.0, 0.0, 0.0, 1.0
    if in2:
        return x2, gp / den2, kappa * slope / den2, slope
    return 0.0, 0.0, 0.0, slope


@njit(cache=True)
def _lifted_k2(nu, gp):
    """k2 = nu gp / (nu + gp): the lifted relu's precision on z from its input."""
    return nu * gp / (nu + gp)


@njit(cache=True)
def _matched(x, dxa, dxc, dh, h, c, nv, gm):
    """(x*, z*, dx*/da, dz*/dc) of the matched factor z = phi(x) + N(0, nv) from the
    minimiser x* of the reduced problem (derivatives dxa, dxc) with h = phi(x*),
    dh = phi'(x*): z* = (h + rho c) / (1 + rho), rho = nv gm; z* = y for the measurement."""
    if np.isinf(gm):
        return x, c, dxa, 1.0
    rho = nv * gm
    return x, (h + rho * c) / (1.0 + rho), dxa, (dh * dxc + rho) / (1.0 + rho)


@njit(cache=True)
def activation_prox(code, par, nv, a, c, gp, gm):
    """(x*, z*, dx*/da, dz*/dc) of one component of an activation factor."""
    if code == PWL:
        slope = par[SLOPE]
        x, dxa, dxc, dh = pwl_prox(a, c, gp, kappa_of(gm, nv), slope)
        return _matched(x, dxa, dxc, dh, pwl(x, slope), c, nv, gm)
    if code == HARDTANH:
        x, dxa, dxc, dh = hardtanh.prox(a, c, gp, kappa_of(gm, nv))
        return _matched(x, dxa, dxc, dh, hardtanh.phi(x), c, nv, gm)
    nu = par[NU]
    k2 = _lifted_k2(nu, gp)
    t = (k2 * a + gm * c) / (k2 + gm)
    if t > 0.0:
        z, dza, dzc = t, k2 / (k2 + gm), gm / (k2 + gm)
    else:
        z, dza, dzc = 0.0, 0.0, 0.0
    return (nu * z + gp * a) / (nu + gp), z, (nu * dza + gp) / (nu + gp), dzc


@njit(cache=True)
def activation_breakpoints_into(code, par, nv, c, gp, gm, out):
    """Write the values of a at which x*(a, c) or z*(a, c) is not smooth, for fixed c,
    into ``out`` (size >= MAX_BREAKS); returns their count."""
    if code == LIFTED_RELU:
        nu = par[NU]
        k2 = _lifted_k2(nu, gp)
        out[0] = -gm * c / k2
        return 1
    if code == HARDTANH:
        return hardtanh.breakpoints_into(c, gp, kappa_of(gm, nv), out)
    slope = par[SLOPE]
    kappa = kappa_of(gm, nv)
    out[0] = -kappa * c / gp
    out[1] = -kappa * slope * c / gp
    count = 2
    # branch switch: equal costs of the two interior branch minimisers (lines through 0)
    sa = np.sqrt(kappa * slope * slope + gp)
    sb = np.sqrt(kappa + gp)
    for sign in (-1.0, 1.0):
        den = sa + sign * slope * sb
        if abs(den) > 1e-12 * (sa + sb):
            out[count] = c * (sa + sign * sb) / den
            count += 1
    return count


@njit(cache=True)
def activation_breakpoints(code, par, nv, c, gp, gm):
    """Values of a at which x*(a, c) or z*(a, c) is not smooth, for fixed c."""
    out = np.empty(MAX_BREAKS)
    return out[:activation_breakpoints_into(code, par, nv, c, gp, gm, out)]


@njit(cache=True)
def jump_kernel(kernel, u):
    """K(u) of a kernel estimate of the prox's jump term (docs/state_evolution.md, section 5):
    GAUSS_KERNEL, the standard normal density (order 2: bias O(h^2)); FLAT_TOP, the trapezoidal
    flat-top kernel 4 sin(3u/4) sin(u/4) / (pi u^2) = 4 s^2 (3 - 4 s^2) / (pi u^2), s = sin(u/4),
    whose Fourier transform is 1 on |w| <= 1/2 and falls linearly to 0 at |w| = 1 (infinite
    order: bias O(exp(-v / (8 h^2))) on a message density smoothed by N(0, v))."""
    if kernel == GAUSS_KERNEL:
        return np.exp(-0.5 * u * u) / np.sqrt(2.0 * np.pi)
    if u == 0.0:
        return 0.75 / np.pi
    s2 = np.sin(0.25 * u) ** 2
    return 4.0 * s2 * (3.0 - 4.0 * s2) / (np.pi * u * u)


@njit(cache=True)
def _jump(code, par, nv, a, c, gp, gm, s, along_a):
    """The jump g(s + d) - g(s - d), d = JUMP_PROBE (|s| + 1), of x*(., c) at a = s (``along_a``)
    or of z*(a, .) at c = s: about 0 where the prox is continuous."""
    d = JUMP_PROBE * (abs(s) + 1.0)
    if along_a:
        return activation_prox(code, par, nv, s + d, c, gp, gm)[0] - activation_prox(code, par, nv, s - d, c, gp, gm)[0]
    return activation_prox(code, par, nv, a, s + d, gp, gm)[1] - activation_prox(code, par, nv, a, s - d, gp, gm)[1]


@njit(cache=True)
def jump_lines(code, par, nv, gp, gm, along_a, lines):
    """The jumps of a conic prox, whose breakpoints are lines a = beta_k c: rows
    (beta_k, J_k(+1), J_k(-1)) of ``lines`` (MAX_BREAKS x 3), J_k(+-1) the jump of x*(., c)
    at a = beta_k c for c = +-1 (``along_a``), or of z*(a, .) at c = a / beta_k for a = +-1.
    By homogeneity the jump at (a, c) is |c| J_k(sign c) (along a) or |a| J_k(sign a).
    Returns the count of lines on which the prox jumps."""
    br = np.empty(MAX_BREAKS)
    count = 0
    for k in range(activation_breakpoints_into(code, par, nv, 1.0, gp, gm, br)):
        beta = br[k]
        if along_a:
            jp = _jump(code, par, nv, 0.0, 1.0, gp, gm, beta, True)
            jm = _jump(code, par, nv, 0.0, -1.0, gp, gm, -beta, True)
        elif beta != 0.0:  # a = 0 c never crosses a section a = const
            jp = _jump(code, par, nv, 1.0, 0.0, gp, gm, 1.0 / beta, False)
            jm = _jump(code, par, nv, -1.0, 0.0, gp, gm, -1.0 / beta, False)
        else:
            continue
        floor = JUMP_FLOOR * ((abs(beta) if along_a else 1.0 / abs(beta)) + 1.0)  # scaled as the probe's offset
        jp, jm = jp if abs(jp) > floor else 0.0, jm if abs(jm) > floor else 0.0
        repeated = False
        for m in range(count):
            repeated = repeated or abs(lines[m, 0] - beta) <= 2.0 * JUMP_PROBE * (abs(beta) + 1.0)
        if not repeated and (jp != 0.0 or jm != 0.0):
            lines[count, 0], lines[count, 1], lines[count, 2] = beta, jp, jm
            count += 1
    return count


@njit(cache=True)
def jump_term(lines, count, a, c, h, kernel, along_a):
    """sum_k J_k K((u - s_k) / h) / h over the jump lines (``jump_lines``) crossed by the
    section of the prox along u = a (s_k = beta_k c) or u = c (s_k = a / beta_k): the kernel
    estimate of E[J delta(u - s)], the jump part of the Stein divergence."""
    total = 0.0
    for k in range(count):
        if along_a:
            u, w = a - lines[k, 0] * c, c
        else:
            u, w = c - a / lines[k, 0], a
        jump = w * lines[k, 1] if w >= 0.0 else -w * lines[k, 2]
        total += jump * jump_kernel(kernel, u / h) / h
    return total


@njit(cache=True)
def activation_prox_vector(code, par, nv, a, c, gp, gm, xhat, zhat, step, kernel):
    """Componentwise prox; fills x*, z* and returns the divergences (<dx*/da>, <dz*/dc>).

    ``step`` = 0: the a.e. derivative ("ae", the seed's formula: blind to the jumps of the
    relu MAP prox).  ``step`` > 0, ``kernel`` = CENTRAL: the central difference
    (g(u + h) - g(u - h)) / (2 h) with h = step / sqrt(gam) of that input ("jump": it counts
    the jumps within h, and tends to the Stein divergence E[g'] in the distribution sense as
    h -> 0).  ``kernel`` = GAUSS_KERNEL or FLAT_TOP: the a.e. derivative plus the kernel estimate
    of the jump term with bandwidth h (``jump_term``; conic factors only).
    """
    sa = 0.0
    sc = 0.0
    measured = np.isinf(gm)
    ha = step / np.sqrt(gp)
    hc = 0.0 if measured else step / np.sqrt(gm)
    lines_a, lines_c = np.empty((MAX_BREAKS, 3)), np.empty((MAX_BREAKS, 3))
    count_a = count_c = 0
    if step > 0.0 and kernel != CENTRAL:
        count_a = jump_lines(code, par, nv, gp, gm, True, lines_a)
        if not measured:
            count_c = jump_lines(code, par, nv, gp, gm, False, lines_c)
    for i in range(a.size):
        x, z, dxa, dzc = activation_prox(code, par, nv, a[i], c[i], gp, gm)
        xhat[i] = x
        zhat[i] = z
        if step > 0.0:
            if kernel == CENTRAL:
                dxa = (activation_prox(code, par, nv, a[i] + ha, c[i], gp, gm)[0]
                       - activation_prox(code, par, nv, a[i] - ha, c[i], gp, gm)[0]) / (2.0 * ha)
            else:
                dxa += jump_term(lines_a, count_a, a[i], c[i], ha, kernel, True)
            if not measured:
                if kernel == CENTRAL:
                    dzc = (activation_prox(code, par, nv, a[i], c[i] + hc, gp, gm)[1]
                           - activation_prox(code, par, nv, a[i], c[i] - hc, gp, gm)[1]) / (2.0 * hc)
                else:
                    dzc += jump_term(lines_c, count_c, a[i], c[i], hc, kernel, False)
        sa += dxa
        sc += dzc
    return sa / a.size, sc / a.size
