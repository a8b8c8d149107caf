"""Toys drawn from held-out simulated events: the generator of a study on sample files, which has no pdf.

A mixture from sample files (``roosbi run --signal … --background …``) learns p_s/p_b from events
and has no pdf of x to draw toys from; its learned pdf, f(x|mu) = p(x|mu)/p_b(x), is no density.
When it draws its pseudo-data from events held out of everything else, it keeps those events in
the workspace (:func:`store_pools`: one weighted dataset per class, and the names of the signal
strength and the yields). A toy at signal strength mu then draws Poisson(mu S) signal and
Poisson(B) background events from them (:func:`pool_toy`), the way the pseudo-data were drawn:
without replacement when a pool is unweighted and large enough, else with replacement with
probability proportional to the positive weights. ``roosbi validate`` uses it by default for
such a workspace (``--generator pool``).
"""

from __future__ import annotations

import logging

import numpy as np

from ..exceptions import InputError
from ..library import import_root

log = logging.getLogger(__name__)

#: The generator's name in ``roosbi validate`` (not a marked fit).
POOL = "pool"
#: The pools' datasets in the workspace.
POOL_DATA = {"signal": "roosbi_pool_signal", "background": "roosbi_pool_background"}
#: A TNamed whose title is "poi;n_signal;n_background": the names of the signal strength and yields.
POOL_MARK = "roosbi_pools"
#: String attribute of a pdf that cannot generate events (not a density of the observables).
NO_GENERATION = "roosbi_generate"


def store_pools(ws, pools: dict[str, tuple[np.ndarray, np.ndarray]], observables: list, poi: str) -> None:
    """Keep the held-out events of each class in ``ws``, for toys (:func:`pool_toy`).

    Parameters
    ----------
    ws : ROOT.RooWorkspace
        Holds the observables, ``poi``, and the yields ``n_signal`` and ``n_background``.
    pools : dict
        ``{"signal": (x, w), "background": (x, w)}``: the events' observables (n, d) and weights (n,).
    observables : list of ROOT.RooRealVar
        The observables, in the columns' order.
    poi : str
        The signal strength's name.
    """
    from ..data.observed import observed_data_from_arrays

    ROOT = import_root()
    for role, (x, w) in pools.items():
        data = observed_data_from_arrays(np.asarray(x), observables, weights=np.asarray(w), name=POOL_DATA[role])
        ws.Import(data, Silence=True)
    ws.Import(ROOT.TNamed(POOL_MARK, f"{poi};n_signal;n_background"), True)


def has_pools(ws) -> bool:
    """True if ``ws`` holds the held-out events of :func:`store_pools`."""
    return bool(ws.genobj(POOL_MARK)) and all(ws.data(name) for name in POOL_DATA.values())


class Pools:
    """The held-out events of a workspace as numpy arrays, read once, and the draw of a toy from them."""

    def __init__(self, ws):
        if not has_pools(ws):
            raise InputError(
                f"workspace '{ws.GetName()}' holds no held-out events to draw toys from; a mixture from sample files "
                "keeps them when its pseudo-data are drawn from held-out events (roosbi run without --data)"
            )
        self.poi, self.n_signal, self.n_background = str(ws.genobj(POOL_MARK).GetTitle()).split(";")
        self.ws = ws
        self.arrays, self.weighted = {}, {}
        for role, name in POOL_DATA.items():
            data = ws.data(name)
            # Column names come back as bytes from some ROOT versions.
            columns = {k.decode() if isinstance(k, bytes) else k: v for k, v in data.to_numpy().items()}
            names = [v.GetName() for v in data.get()]
            x = np.column_stack([columns[n] for n in names])
            weight = data.weightVar()
            w = np.asarray(columns[weight.GetName()], dtype=float) if weight else np.ones(len(x))
            self.arrays[role] = (names, x, w)
            # As the pseudo-data's Events.weighted: one positive weight for all is "unweighted".
            self.weighted[role] = not (np.all(w == w[0]) and w[0] > 0)
            if not (w > 0).any():
                raise InputError(f"the held-out {role} events in '{ws.GetName()}' have no positive weight to draw from")

    def expected(self, mu: float) -> dict[str, float]:
        """Expected events of each class at signal strength ``mu``."""
        return {
            "signal": mu * self.ws.var(self.n_signal).getVal(),
            "background": self.ws.var(self.n_background).getVal(),
        }

    def toy(self, point: dict[str, float], rng: np.random.Generator, observables):
        """A toy dataset at ``point`` (its signal strength), over ``observables`` (a RooArgSet)."""
        ROOT = import_root()
        blocks = []
        for role, expected in self.expected(point[self.poi]).items():
            names, x, w = self.arrays[role]
            k = int(rng.poisson(expected)) if expected > 0 else 0
            blocks.append(x[draw_rows(w, k, rng, weighted=self.weighted[role])])
        x = np.vstack(blocks)
        columns = {name: np.ascontiguousarray(x[:, i]) for i, name in enumerate(names)}
        variables = [observables.find(name) for name in names]
        return ROOT.RooDataSet.from_numpy(columns, variables, name="toy")


def draw_rows(w: np.ndarray, k: int, rng: np.random.Generator, weighted: bool) -> np.ndarray:
    """Rows of ``k`` events of a pool with weights ``w``, as pseudo-data and toys are drawn.

    Without replacement from an unweighted pool that holds enough events, else with replacement
    with probability proportional to the positive weights.
    """
    if k == 0:
        return np.empty(0, dtype=int)
    if not weighted and k <= len(w):
        return rng.choice(len(w), k, replace=False)
    positive = np.clip(w, 0.0, None)
    return rng.choice(len(w), k, replace=True, p=positive / positive.sum())
