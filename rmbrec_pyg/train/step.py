r"""How training steps run: where the triples are drawn (on the host, or on
the device without any sync), and whether a full-size step is replayed as a
captured CUDA graph (one launch for the whole forward, backward and Adam
step, instead of hundreds) or run eagerly."""
import logging
from typing import Any, Dict, List, Mapping

import torch
from torch import Tensor

from rmbrec_pyg.graph.device_sampling import DeviceBehaviorSampler
from rmbrec_pyg.graph.sampling import BehaviorSampler

log = logging.getLogger('rmbrec_pyg')


def use_device_sampler(choice: str, device: torch.device) -> bool:
    r"""``trainer.sampler``: ``'host'`` (the authors' rejection sampling on
    the CPU), ``'device'`` (:class:`~rmbrec_pyg.graph.DeviceBehaviorSampler`
    on the training device) or ``'auto'`` (device on CUDA)."""
    return choice == 'device' or (choice == 'auto' and device.type == 'cuda')


def use_graph(choice: str, device: torch.device, static_ok: bool,
              world_size: int) -> bool:
    r"""``trainer.compile``: ``'off'``, ``'graph'`` (CUDA graphs; needs
    CUDA) or ``'auto'`` (graphs on CUDA when the step allows it: no process
    group, and every loss term able to run with static shapes).
    :obj:`world_size` is 0 outside a process group."""
    if choice == 'graph' and device.type != 'cuda':
        from rmbrec_pyg.data.errors import ConfigError
        raise ConfigError("'trainer.compile=graph' needs a CUDA device "
                          f'(got {device})')
    able = device.type == 'cuda' and static_ok and world_size == 0
    if choice == 'graph' and not able:
        log.warning('trainer.compile=graph: this step cannot be captured '
                    '(several processes, or a loss term without static '
                    'shapes); training eagerly')
    return choice in ('auto', 'graph') and able


def make_sampler(edges: Mapping[str, Tensor], num_users: int,
                 num_items: int, negatives: str, device: torch.device,
                 on_device: bool, generator: torch.Generator) -> Any:
    r"""The triple sampler of a run."""
    if on_device:  # the device's default generator (graph-capturable)
        return DeviceBehaviorSampler(edges, num_users, num_items, negatives,
                                     device)
    return BehaviorSampler(edges, num_users, num_items, negatives, generator)


class StepRunner:
    r"""Runs one optimisation step of a :class:`~rmbrec_pyg.train.Trainer`
    per batch and returns its detached loss terms.

    With :obj:`graph`, the first full-size batches run eagerly on a side
    stream (warm-up: cuBLAS/cuSPARSE handles, Adam's state), then one step
    is captured as a CUDA graph on static buffers and every later full-size
    batch replays it; a smaller last batch runs eagerly. If capture fails,
    training goes on eagerly (logged).

    Args:
        trainer: The trainer (its :meth:`step`, optimizer and config).
        graph (bool): Capture and replay full-size steps.
        warmup (int): Eager full-size steps before the capture.
            (default: :obj:`3`)
    """
    def __init__(self, trainer: Any, graph: bool = False,
                 warmup: int = 3) -> None:
        self.trainer = trainer
        self.graph_mode = graph
        self.warmup = warmup
        self.graph: Any = None
        self.static_users: Any = None
        self.static_terms: Dict[str, Tensor] = {}

    def eager(self, users: Tensor) -> Dict[str, Tensor]:
        tr = self.trainer
        tr.optimizer.zero_grad(set_to_none=True)
        total, terms = tr.step(users)
        total.backward()
        tr.optimizer.step()
        return terms

    def __call__(self, users: Tensor) -> Dict[str, Tensor]:
        if not self.graph_mode or \
                users.numel() != self.trainer.batch_size:
            return self.eager(users)
        if self.graph is None:
            if self.warmup > 0:
                self.warmup -= 1
                stream = torch.cuda.Stream()
                stream.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(stream):
                    terms = self.eager(users)
                torch.cuda.current_stream().wait_stream(stream)
                return terms
            if not self.capture(users):
                return self.eager(users)
        self.static_users.copy_(users)
        self.graph.replay()
        return {k: v.clone() for k, v in self.static_terms.items()}

    def capture(self, users: Tensor) -> bool:
        tr = self.trainer
        self.static_users = users.clone()
        tr.optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                total, terms = tr.step(self.static_users)
                total.backward()
                tr.optimizer.step()
        except RuntimeError as e:  # pragma: no cover - needs CUDA
            log.warning('CUDA graph capture failed (%s); training eagerly',
                        str(e).splitlines()[0])
            self.graph_mode = False
            torch.cuda.synchronize()
            return False
        self.graph, self.static_terms = graph, terms
        log.info('training steps captured as a CUDA graph')
        return True


def epoch_batches(num_users: int, batch_size: int, device: torch.device,
                  on_device: bool, generator: torch.Generator
                  ) -> List[Tensor]:
    r"""One epoch's batches of users: a permutation drawn on the device
    (its default generator) for the device sampler, else on the host with
    the run's generator."""
    if on_device:
        perm = torch.randperm(num_users, device=device)
    else:
        perm = torch.randperm(num_users, generator=generator)
    return list(perm.split(batch_size))
