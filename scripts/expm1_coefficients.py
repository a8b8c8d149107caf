"""Coefficients of the expm1 polynomial in RooLearnedRatio.cxx (expParts).

expm1(r) = r * p(r) on |r| <= ln2 / 2, with p of degree 10 interpolating expm1(r) / r at the
Chebyshev nodes (close to the minimax polynomial), computed in 50-digit arithmetic with mpmath.
Prints the coefficients, highest degree first, and the largest relative error of the
double-precision evaluation against mpmath (2.2e-16).

    .venv/bin/python scripts/expm1_coefficients.py
"""

import mpmath as mp
import numpy as np

mp.mp.dps = 50
DEGREE = 10
HALF_LN2 = mp.log(2) / 2


def main() -> None:
    n = DEGREE + 1
    nodes = [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / n) for k in range(n)]
    vander = mp.matrix([[t**j for j in range(n)] for t in nodes])
    values = mp.matrix([mp.expm1(t * HALF_LN2) / (t * HALF_LN2) for t in nodes])
    scaled = mp.lu_solve(vander, values)
    coeffs = [float(scaled[j] / HALF_LN2**j) for j in range(n)]
    worst = 0.0
    for r in np.linspace(-float(HALF_LN2), float(HALF_LN2), 4001):
        p = 0.0
        for c in reversed(coeffs):
            p = p * r + c
        exact = mp.expm1(mp.mpf(r))
        if exact != 0:
            worst = max(worst, float(abs((mp.mpf(p * r) - exact) / exact)))
    print("coefficients, highest degree first:")
    for c in reversed(coeffs):
        print(f"   {c!r}")
    print(f"max relative error of r * p(r) in double: {worst:.2e}")


if __name__ == "__main__":
    main()
