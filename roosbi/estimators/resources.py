"""What a torch fit takes from the machine: the import, the device, CPU threads, batch size and learning rate.

**Threads.** How many, chosen once per fit, and idle threads that sleep.

torch's default is one intra-op thread per physical core of the machine, whatever CPUs the
process may use, and its OpenMP threads spin while they wait for work. A small network gains
nothing from a second thread (each minibatch is too little work to share), and on a busy machine
the spinning threads take the cores the training needs: a 3-second training took 209 s on a
2-core machine shared with other jobs. :func:`training_threads` therefore sets, for the length of
one fit, a thread count chosen by this rule (docs/scale.md), then puts the previous one back:

1. the estimator's ``n_threads`` when it is given;
2. else a count the user chose: ``torch.set_num_threads`` called before the fit (torch's count
   differs from its default), or ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` in the environment;
3. else ``1 + work // WORK_PER_THREAD`` threads, where ``work`` is the multiply-adds of one
   minibatch's forward pass (rows per batch times the network's weights, all members counted)
   and :data:`WORK_PER_THREAD` is 1e8, at most the CPUs this process may use
   (:func:`usable_cpus`: its affinity mask and its cgroup quota). roosbi's default network
   (4 members of 32x32, 2048 rows: 9e6) trains on one thread; 4 members of 128x128 on two.

On a GPU the CPU threads do no training work and are left as they are (unless ``n_threads`` is
given). Inter-op threads are left alone: eager training never uses them (measured), and torch
cannot change them back once set.

Idle OpenMP threads wait passively only when ``OMP_WAIT_POLICY=PASSIVE`` is in the environment
when torch's OpenMP runtime (torch/lib/libgomp.so.1) is loaded, i.e. before ``import torch``:
it is read once, at load. :func:`import_torch` sets it (unless the user set it) when it is the
first to import torch; roosbi's own imports of torch go through it.

**Batch size and learning rate** of ``batch_size=None`` / ``learning_rate=None``:
:func:`auto_batch_size` from the device and the sample size, :func:`auto_learning_rate` from the
batch size (the square-root rule above the base 5e-3 at 2048).
"""

from __future__ import annotations

import logging
import math
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from ..exceptions import InputError

log = logging.getLogger(__name__)

#: Multiply-adds of one minibatch's forward pass that pay for one more intra-op thread. Measured on
#: a 2-core Xeon (docs/scale.md): a second thread gains 0-10 % (for 15-40 % more CPU) up to about
#: 8e7 (4 members of 96x96 at 2048 rows), and about 30 % from 1.4e8 (4 members of 128x128).
WORK_PER_THREAD = 100_000_000

#: What ``OMP_WAIT_POLICY`` was when torch was imported: None if roosbi did not import it first.
_WAIT_POLICY_AT_IMPORT: str | None = None
#: torch's own default thread count, read right after roosbi imported it (None: torch was imported before).
_TORCH_DEFAULT: int | None = None


def import_torch():
    """``import torch``, with ``OMP_WAIT_POLICY=PASSIVE`` set first if torch is not imported yet.

    An ``OMP_WAIT_POLICY`` already in the environment is kept. When torch was imported before
    (by the user), its OpenMP runtime has read the environment already and nothing changes.
    """
    global _WAIT_POLICY_AT_IMPORT, _TORCH_DEFAULT
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import torch

        _WAIT_POLICY_AT_IMPORT = os.environ.get("OMP_WAIT_POLICY", "")
        _TORCH_DEFAULT = torch.get_num_threads()  # nothing else ran since the import: torch's default
    import torch

    return torch


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask (else ``os.cpu_count()``), cut by its cgroup's quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


def _cgroup_cpu_quota() -> float | None:
    """The CPU quota of this process's cgroup in CPUs (cgroup v2 ``cpu.max``, or v1), or None when unlimited."""
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        if text:
            return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def _env_threads() -> tuple[str, int] | None:
    """The thread count set in the environment, as torch reads it (MKL_NUM_THREADS wins over OMP_NUM_THREADS)."""
    for name in ("MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value:
            try:
                n = int(value.split(",")[0])
            except ValueError:
                continue
            if n > 0:
                return name, n
    return None


def _physical_cores() -> int:
    """Physical cores of the machine (torch's default thread count), from sysfs; ``os.cpu_count()`` elsewhere."""
    cores = set()
    for topology in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/topology"):
        try:
            cores.add(((topology / "physical_package_id").read_text(), (topology / "core_id").read_text()))
        except OSError:
            continue
    return len(cores) or os.cpu_count() or 1


def torch_default_threads() -> int:
    """Torch's default intra-op thread count in this process.

    Exact when roosbi imported torch (read right after the import); otherwise what torch computes
    at start-up: ``MKL_NUM_THREADS`` or ``OMP_NUM_THREADS`` if set, else the physical cores.
    """
    if _TORCH_DEFAULT is not None:
        return _TORCH_DEFAULT
    env = _env_threads()
    return env[1] if env else _physical_cores()


def network_work(batch_size: int, net) -> int:
    """Multiply-adds of one minibatch's forward pass: rows times the weights of ``net`` (all members)."""
    weights = sum(p.numel() for p in net.parameters() if p.dim() >= 2) or sum(p.numel() for p in net.parameters())
    return int(batch_size) * int(weights)


def choose_threads(n_threads: int | None, device: str, work: int, current: int) -> tuple[int, str]:
    """The intra-op thread count for one fit, and why (the rule of the module docstring).

    Parameters
    ----------
    n_threads : int or None
        The estimator's explicit choice.
    device : str
        Where the network trains; on a GPU the current count is kept.
    work : int
        Multiply-adds of one minibatch's forward pass (:func:`network_work`).
    current : int
        torch's thread count now.
    """
    if n_threads is not None:
        return int(n_threads), f"n_threads={n_threads}"
    if device != "cpu":
        return current, f"training on {device}: torch's CPU threads left as they are"
    default = torch_default_threads()
    if current != default:
        return current, f"torch.set_num_threads({current}) was called before the fit (torch's default: {default})"
    env = _env_threads()
    if env is not None:
        return env[1], f"{env[0]}={env[1]}"
    cpus = usable_cpus()
    chosen = min(cpus, 1 + int(work) // WORK_PER_THREAD)
    why = f"auto: {work:.2g} multiply-adds per batch, one more thread per {WORK_PER_THREAD:.0e}, {cpus} usable CPUs"
    return chosen, why


def wait_policy() -> str:
    """How idle OpenMP threads wait, as far as roosbi knows."""
    if _WAIT_POLICY_AT_IMPORT is None:
        return "OMP_WAIT_POLICY unknown (torch was imported before roosbi)"
    return f"OMP_WAIT_POLICY={_WAIT_POLICY_AT_IMPORT or 'unset'} at torch's import"


@contextmanager
def training_threads(n_threads: int | None, device: str, work: int):
    """Within the block, torch trains with the chosen intra-op threads; the previous count is put back after.

    Logs the choice once at INFO. Yields the chosen count.
    """
    torch = import_torch()
    previous = torch.get_num_threads()
    chosen, why = choose_threads(n_threads, device, work, previous)
    log.info("torch: %d intra-op thread%s (%s); %s", chosen, "" if chosen == 1 else "s", why, wait_policy())
    if chosen != previous:
        torch.set_num_threads(chosen)
    try:
        yield chosen
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def _torch():
    try:
        torch = import_torch()  # OMP_WAIT_POLICY=PASSIVE first, when roosbi is the first to import torch
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "the torch estimator needs PyTorch: pip install 'roosbi[torch]' "
            "(or use estimator='sklearn', which needs nothing extra)"
        ) from err
    return torch


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` if a GPU is visible, else ``"cpu"``; checks explicit choices."""
    torch = _torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise InputError(f"device must be 'auto', 'cpu' or 'cuda', not {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("device='cuda' was asked for but torch sees no CUDA GPU; use device='cpu' or 'auto'")
    return device


#: The reference point of the automatic batch size and learning rate: 5e-3 at 2048 rows per batch,
#: the settings every roosbi default and benchmark was tuned with.
BASE_BATCH_SIZE = 2048
BASE_LEARNING_RATE = 5e-3
#: The automatic learning rate never exceeds this (four times the base: a batch of 32768 rows).
MAX_LEARNING_RATE = 2e-2
#: Samples up to this many rows train with the base batch size on any device.
LARGE_SAMPLE = 1_000_000


def auto_batch_size(n_rows: int, device: str) -> int:
    """The batch size of ``batch_size=None``: from the device and the number of training rows.

    Up to :data:`LARGE_SAMPLE` rows (10^6): 2048 on any device, which keeps hundreds of optimiser
    steps per epoch. Beyond, larger batches (fewer, larger steps; docs/scale.md): on the
    CPU 2048 doubled for every doubling of the sample above 10^6 rows, at most 16384 (4096 from
    2·10^6 rows, 8192 from 4·10^6, 16384 from 8·10^6); on a GPU 16384 from 10^6 rows, doubled for
    every doubling, at most 65536 (from 4·10^6 rows).
    """
    n_rows = int(n_rows)
    if n_rows <= LARGE_SAMPLE:
        return BASE_BATCH_SIZE
    doublings = int(math.floor(math.log2(n_rows / LARGE_SAMPLE)))
    if str(device).startswith("cuda"):
        return min(65_536, 16_384 << doublings)
    return min(16_384, BASE_BATCH_SIZE << doublings)


def auto_learning_rate(batch_size: int) -> float:
    """The learning rate of ``learning_rate=None``: 5e-3 up to 2048 rows per batch, times sqrt(batch / 2048) above.

    The square-root rule keeps Adam's step noise about constant as the batch grows; capped at
    :data:`MAX_LEARNING_RATE` (2e-2, reached at 32768 rows). Smaller batches keep 5e-3, the
    default of every earlier version, which the small-batch settings in use were tuned with
    (``batch_size=256`` without a learning rate trains as it always did).
    """
    scale = math.sqrt(max(1.0, int(batch_size) / BASE_BATCH_SIZE))
    return min(MAX_LEARNING_RATE, BASE_LEARNING_RATE * scale)
