"""Polynomial coefficients of the vector functions in roosbi/cpp/RooLearnedRatio.cxx.

Each polynomial interpolates its function at Chebyshev nodes (close to the minimax polynomial),
computed in 50-digit arithmetic with mpmath; the script prints the coefficients, highest degree
first, as they appear in the C++ source, and the largest relative error of the double-precision
evaluation against mpmath:

- expm1(r) = r p(r) on |r| <= ln2 / 2 (used by exp, expm1, tanh, sigmoid, SiLU, ELU, SELU);
- log1p(t) = 2 s q(s^2), s = t / (2 + t), for t in [0, 1] (softplus);
- erfcx(z) = exp(z^2) erfc(z) = g(u) for z in [0, 27.5], u = (z - 3.5) / (z + 3.5) (GELU; erfc
  underflows beyond 27.5).

    .venv/bin/python scripts/activation_coefficients.py
"""

import mpmath as mp
import numpy as np

mp.mp.dps = 50


def interpolate(func, lo, hi, degree: int) -> list[float]:
    """Monomial coefficients (lowest first) of the interpolant of func at Chebyshev nodes of [lo, hi]."""
    n = degree + 1
    nodes = [(lo + hi) / 2 + (hi - lo) / 2 * mp.cos(mp.pi * (j + mp.mpf(1) / 2) / n) for j in range(n)]
    vander = mp.matrix([[v**i for i in range(n)] for v in nodes])
    coeffs = mp.lu_solve(vander, mp.matrix([func(v) for v in nodes]))
    return [float(coeffs[i]) for i in range(n)]


def horner(coeffs: list[float], x: float) -> float:
    p = 0.0
    for c in reversed(coeffs):
        p = p * x + c
    return p


def worst(approx, exact, points) -> float:
    errors = [abs(float((mp.mpf(approx(p)) - exact(p)) / exact(p))) for p in points if exact(p) != 0]
    return max(errors)


def report(name: str, coeffs: list[float], error: float, extra: str = "") -> None:
    print(f"{name}{extra}: max relative error {error:.2e}; coefficients, highest degree first:")
    for c in reversed(coeffs):
        print(f"   {c!r},")
    print()


def main() -> None:
    half_ln2 = mp.log(2) / 2
    expm1 = interpolate(lambda r: mp.expm1(r) / r, -half_ln2, half_ln2, 10)
    points = np.linspace(-float(half_ln2), float(half_ln2), 4001)
    report("expm1", expm1, worst(lambda r: r * horner(expm1, r), lambda r: mp.expm1(mp.mpf(r)), points))

    # atanh(s) / s as a polynomial in v = s^2 on [0, 1/9]; rescaled so the C++ evaluates it in v.
    log1p = interpolate(lambda v: mp.atanh(mp.sqrt(v)) / mp.sqrt(v) if v else mp.mpf(1), mp.mpf(0), mp.mpf(1) / 9, 9)
    ts = np.concatenate([np.linspace(0, 1, 4001)[1:], [1e-300, 1e-20, 1e-10, 1e-5]])

    def log1p_approx(t: float) -> float:
        s = t / (2 + t)
        return 2 * s * horner(log1p, s * s)

    report("log1p", log1p, worst(log1p_approx, lambda t: mp.log1p(mp.mpf(t)), ts))

    k, z_max = mp.mpf("3.5"), mp.mpf("27.5")
    u_max = (z_max - k) / (z_max + k)
    erfcx = interpolate(lambda u: mp.erfc(k * (1 + u) / (1 - u)) * mp.exp((k * (1 + u) / (1 - u)) ** 2), -1, u_max, 20)

    def erfcx_approx(z: float) -> float:
        return horner(erfcx, (z - 3.5) / (z + 3.5))

    zs = np.concatenate([np.linspace(0, 6, 3001), [1e-10, 1e-3]])
    report(
        "erfcx",
        erfcx,
        worst(erfcx_approx, lambda z: mp.erfc(mp.mpf(z)) * mp.exp(mp.mpf(z) ** 2), zs),
        " (z <= 6)",
    )


if __name__ == "__main__":
    main()
