r"""Data-parallel training under ``torchrun``: every rank draws the same
global batch and the same triples (shared generator), keeps its share, and
:class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients.
Rank 0 evaluates, logs and writes; the others follow its early stopping
and log only their warnings and errors."""
import logging
import os
from typing import Any, List, Sequence, Tuple

import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn import Module
from torch.nn.parallel import DistributedDataParallel

log = logging.getLogger('rmbrec_pyg')

# Objects whose C++ teardown must wait for the process to end (see
# :func:`finish`).
_KEEP_UNTIL_EXIT: List[Any] = []


def under_torchrun() -> bool:
    r"""Whether this process was started by ``torchrun`` (even alone)."""
    return 'TORCHELASTIC_RUN_ID' in os.environ or \
        int(os.environ.get('WORLD_SIZE', '1')) > 1


def init_process_group(device: str) -> str:
    r"""Under ``torchrun``, joins the process group: ``nccl`` with one GPU
    per rank when CUDA is used, ``gloo`` on CPU (a single process too, so
    that the distributed path can be smoke-tested on one device). Returns
    the device this rank should use."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if not under_torchrun() or dist.is_initialized():
        return device
    use_cuda = torch.cuda.is_available() and device != 'cpu'
    if use_cuda:
        local = int(os.environ.get('LOCAL_RANK', '0'))
        torch.cuda.set_device(local)
        device = f'cuda:{local}'
    dist.init_process_group('nccl' if use_cuda else 'gloo')
    log.info('distributed: rank %d of %d (%s)', dist.get_rank(), world,
             dist.get_backend())
    if dist.get_rank() != 0:  # one copy of the run's log: rank 0's
        log.setLevel(max(log.getEffectiveLevel(), logging.WARNING))
    return device


def in_group() -> bool:
    r"""Whether this process is part of a process group."""
    return dist.is_available() and dist.is_initialized()


def rank_and_world() -> Tuple[int, int]:
    r"""This process's rank and the world size (0 and 1 without a process
    group)."""
    if in_group():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def wrap(module: Module, device: torch.device) -> Module:
    r"""The module wrapped in DDP inside a process group (of any size),
    else itself."""
    if not in_group():
        return module
    return DistributedDataParallel(
        module, device_ids=([device.index] if device.type == 'cuda'
                            else None))


def shard(tensors: Sequence[Tensor], rank: int, world: int
          ) -> Tuple[Tensor, ...]:
    r"""This rank's contiguous share of every tensor's rows."""
    if world == 1:
        return tuple(tensors)
    part = torch.arange(tensors[0].size(0)).tensor_split(world)[rank]
    return tuple(t[part] for t in tensors)


def mean_over_ranks(x: Tensor) -> Tensor:
    r"""The mean of :obj:`x` over ranks (in place)."""
    if in_group():
        dist.all_reduce(x)
        x /= dist.get_world_size()
    return x


def from_every_rank(value: Any) -> List[Any]:
    r"""Every rank's :obj:`value`, by rank, on every rank (:obj:`[value]`
    without a process group)."""
    if not in_group():
        return [value]
    every: List[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(every, value)
    return every


def from_rank0(value: int) -> int:
    r"""Rank 0's :obj:`value` on every rank."""
    if not in_group():
        return value
    t = torch.tensor([value])
    dist.broadcast(t, src=0)
    return int(t)


def finish(*keep: Any) -> None:
    r"""Ends the process group: every rank waits for rank 0's evaluation
    and writing (a rank that leaves early can leave the others hanging at
    exit, pytorch/pytorch#75097), then the group is destroyed. :obj:`keep`
    (e.g. the trainer with its DDP wrapper and gloo objects) is held until
    the process exits: freeing it earlier ran gloo's C++ teardown, which
    could block on a peer that had already exited; the console entry point
    leaves with :func:`os._exit` for the same reason."""
    if not in_group():
        return
    dist.barrier()
    dist.destroy_process_group()
    _KEEP_UNTIL_EXIT.extend(keep)
