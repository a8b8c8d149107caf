"""Dask plumbing shared by the toy studies and the hypothesis tests: the client, the worker probe.

A study runs on a new ``LocalCluster`` (one single-threaded worker process per core) or on an
existing cluster (``--scheduler ADDRESS``). The workers open the workspace file themselves, so it
must be at the same absolute path on each (:func:`absolute_path`), and each needs roosbi, ROOT and
libRooSBI: :func:`check_workers` probes every worker for them before any task is sent.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..exceptions import InputError
from ..interrupts import interruptible

log = logging.getLogger(__name__)

#: How many times Dask reruns a task whose worker died.
RETRIES = 3
#: Seconds to wait for a ``--scheduler`` to answer, and for it to have a worker.
CONNECT_TIMEOUT_S = 5
#: Seconds the workers have to answer the probe (a first ``import roosbi`` may build the library).
PROBE_TIMEOUT_S = 600


def connect(scheduler: str | None, workers: int):
    """A Dask client: to ``scheduler`` (checked within seconds) or to a new LocalCluster of ``workers`` processes.

    Returns
    -------
    tuple
        ``(client, cluster)``; ``cluster`` is None for an existing scheduler. Close both.

    Raises
    ------
    InputError
        If the scheduler does not answer, or has no worker, within :data:`CONNECT_TIMEOUT_S` seconds.
    """
    from distributed import Client, LocalCluster

    if not log.isEnabledFor(logging.DEBUG):  # Dask's INFO lines (workers starting, closing) would drown the bar
        logging.getLogger("distributed").setLevel(logging.WARNING)
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError, ValueError) as err:
            raise InputError(
                f"the Dask scheduler at '{scheduler}' did not answer within {CONNECT_TIMEOUT_S} s ({err}); start it "
                "(dask scheduler) and its workers, check the address (tcp://HOST:8786), or leave --scheduler out to "
                "run on local workers"
            ) from err
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as err:
            client.close()
            raise InputError(
                f"the Dask scheduler at '{scheduler}' has no workers (none joined within {CONNECT_TIMEOUT_S} s); start "
                f"them (dask worker {scheduler} --nthreads 1) or leave --scheduler out to run on local workers"
            ) from err
        except BaseException:
            client.close()
            raise
        return client, None
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # any free port: two studies may run side by side
        env={"OMP_NUM_THREADS": "1"},
    )
    try:
        return Client(cluster), cluster
    except BaseException:
        cluster.close()
        raise


def _worker_probe():
    """The probe :func:`check_workers` runs on each worker: roosbi, its library, the workspace file.

    The probe reports an error string instead of raising. It is a local function so that Dask
    sends its code: a worker without roosbi could not import it by name.
    """

    def probe(path: str) -> dict:
        import os
        import sys

        info = {"error": None, "python": sys.executable, "roosbi": None, "root": None}
        try:
            import roosbi
            from roosbi.library import import_root, load_library

            info["roosbi"] = roosbi.__version__
            load_library()
            ROOT = import_root()
            info["root"] = str(ROOT.gROOT.GetVersion())
            ROOT.RooLearnedRatio  # noqa: B018 - the class is known to ROOT
        except BaseException as err:  # noqa: BLE001 - reported to the client, never raised on the worker
            info["error"] = f"{type(err).__name__}: {err}"
            return info
        if not os.access(path, os.R_OK):
            info["error"] = f"cannot read the workspace file '{path}'"
        return info

    return probe


def check_workers(client, path: str) -> int:
    """Probe every worker of ``client``: roosbi importable, its library loaded, ``path`` readable.

    Returns
    -------
    int
        The number of workers.

    Raises
    ------
    InputError
        Naming each worker that fails the probe and what it needs, or if the workers do not answer
        within :data:`PROBE_TIMEOUT_S` seconds.
    """
    import roosbi

    from ..library import import_root

    try:
        answers = client.run(_worker_probe(), path, on_error="return", callback_timeout=PROBE_TIMEOUT_S)
    except (OSError, TimeoutError) as err:
        raise InputError(
            f"the Dask workers did not answer a probe within {PROBE_TIMEOUT_S} s ({err}); check that they run"
        ) from err
    bad = []
    for address, info in sorted(answers.items()):
        if isinstance(info, BaseException) or not isinstance(info, dict):
            bad.append(f"{address}: {type(info).__name__}: {info}")
        elif info["error"] is not None:
            bad.append(f"{address} ({info['python']}): {info['error']}")
        elif (info["roosbi"], info["root"]) != (roosbi.__version__, str(import_root().gROOT.GetVersion())):
            log.warning(
                "worker %s runs roosbi %s with ROOT %s, this process roosbi %s with ROOT %s: install the same versions",
                address,
                info["roosbi"],
                info["root"],
                roosbi.__version__,
                import_root().gROOT.GetVersion(),
            )
    if bad:
        raise InputError(
            f"{len(bad)} of {len(answers)} Dask worker(s) cannot run the toys:\n  "
            + "\n  ".join(bad)
            + f"\ninstall roosbi {roosbi.__version__} with its dependencies (ROOT {import_root().gROOT.GetVersion()} "
            "included) in each worker's Python, build its C++ library there with `roosbi library`, and put the "
            "workspace file at the same absolute path on every worker (a shared file system)"
        )
    return len(answers)


def absolute_path(path: str | os.PathLike) -> str:
    """The path workers open: absolute, so that a worker in another directory finds the same file."""
    return str(Path(path).resolve())


def workspace_file(path: str | os.PathLike) -> Path:
    """A workspace file, or a ``roosbi demo`` output directory holding workspace.root."""
    path = Path(path)
    if path.is_dir():
        path = path / "workspace.root"
    if not path.is_file():
        raise InputError(f"no workspace file at '{path}': give a workspace.root or a roosbi demo output directory")
    return path


@contextmanager
def dask_workers(scheduler: str | None, n_workers: int, path: str) -> Iterator[tuple[object, int]]:
    """The workers of a study: ``(client, n_workers)``, with ``client`` None to run in this process.

    No scheduler and at most one worker: this process. Otherwise a client (:func:`connect`) whose
    workers have passed :func:`check_workers` for ``path``; it is closed, with its cluster, when
    the block ends.
    """
    if scheduler is None and n_workers <= 1:
        yield None, 1
        return
    client, cluster = connect(scheduler, n_workers)
    try:
        with interruptible():  # the probe may wait on workers that build the library
            n_workers = check_workers(client, path)
        yield client, n_workers
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
