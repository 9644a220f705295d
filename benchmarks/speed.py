r"""Time RMBRec training epochs and one validation+test evaluation with the
paper's settings (64-d, 3 layers, batch 1024 users, whole-graph propagation
for every batch, RRM + ORM).

    python benchmarks/speed.py --data ../shared/data/taobao-noview --epochs 5 \
        --json benchmarks/results/speed_cpu.json
    python benchmarks/speed.py --synthetic-taobao --epochs 2      # full Taobao size
    python benchmarks/speed.py --synthetic-taobao --scale 2 --epochs 1

Reports the median seconds per epoch, the seconds of one validation+test
evaluation (median of --eval-repeats), peak RSS and, on CUDA, peak GPU
memory. CUDA work is synchronised before each clock reading.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
import warnings
from typing import Any, Dict

import torch

from rmbrec_pyg.data import MultiBehaviorDataset
from rmbrec_pyg.data.synthetic import TAOBAO_SIZE, random_multi_behavior
from rmbrec_pyg.nn import MultiBehaviorEncoder
from rmbrec_pyg.regularizers import ORM, RRM
from rmbrec_pyg.train import Trainer, TrainerConfig, seed_everything


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument('--data', help='dataset folder')
    src.add_argument('--synthetic-taobao', action='store_true',
                     help="random graph of full Taobao's size")
    parser.add_argument('--scale', type=float, default=1.0,
                        help='multiply users, items and edges (synthetic)')
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument('--device', default='auto')
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--batch-size', type=int, default=1024)
    parser.add_argument('--eval-repeats', type=int, default=3)
    parser.add_argument('--layer-combination', default='normalized_sum')
    parser.add_argument('--no-fused', action='store_true',
                        help='unfused propagate + normalise (for comparison)')
    parser.add_argument('--eval-precision', default='fp32',
                        choices=['fp32', 'bf16'])
    parser.add_argument('--json', default=None, help='write results here')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings('ignore')
    seed_everything(0)

    if args.data:
        data = MultiBehaviorDataset(args.data)[0]
        source = os.path.basename(os.path.normpath(args.data))
    else:
        k = args.scale
        data = random_multi_behavior(
            int(TAOBAO_SIZE['num_users'] * k),
            int(TAOBAO_SIZE['num_items'] * k),
            {b: int(n * k) for b, n in TAOBAO_SIZE['edges'].items()})
        source = f'synthetic-taobao x{k:g}'
    nu, ni = int(data['user'].num_nodes), int(data['item'].num_nodes)
    enc = MultiBehaviorEncoder(nu, ni, data.behaviors, 64, 3,
                               layer_combination=args.layer_combination,
                               fused=not args.no_fused)
    cfg = TrainerConfig(max_epochs=args.epochs, batch_size=args.batch_size,
                        device=args.device, progress=False,
                        eval_precision=args.eval_precision)
    t0 = time.perf_counter()
    trainer = Trainer(data, enc, {'rrm': RRM(1.0), 'orm': ORM(1.0)}, cfg)
    setup_s = time.perf_counter() - t0
    dev = trainer.device
    if dev.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(dev)

    # Warm-up: one step (allocator, kernels), not counted.
    trainer.optimizer.zero_grad()
    total, _ = trainer.step(trainer.batches()[0])
    total.backward()
    sync(dev)

    epochs = []
    for epoch in range(1, args.epochs + 1):
        sync(dev)
        t = time.perf_counter()
        terms = trainer.train_epoch(epoch)
        sync(dev)
        epochs.append(time.perf_counter() - t)
        print(f'epoch {epoch}: {epochs[-1]:.2f}s  loss {terms["total"]:.4f}',
              flush=True)
    evals = []
    for _ in range(args.eval_repeats):
        sync(dev)
        t = time.perf_counter()
        trainer.evaluate(('val', 'test'))
        sync(dev)
        evals.append(time.perf_counter() - t)
    res: Dict[str, Any] = {
        'source': source,
        'train_epoch_s': statistics.median(epochs),
        'train_epoch_s_all': epochs,
        'eval_s': statistics.median(evals),
        'eval_s_all': evals,
        'setup_s': setup_s,
        'batches_per_epoch': len(trainer.batches()),
        'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss /
        1024,
        'device': str(dev),
        'device_name': (torch.cuda.get_device_name(dev) if dev.type == 'cuda'
                        else platform.processor() or platform.machine()),
        'threads': torch.get_num_threads(),
        'users': nu, 'items': ni,
        'edges': {b: int(data['user', b, 'item'].edge_index.size(1))
                  for b in data.behaviors},
        'settings': {'embedding_dim': 64, 'num_layers': 3,
                     'batch_size': args.batch_size,
                     'layer_combination': args.layer_combination,
                     'fused': not args.no_fused, 'regularizers': 'rrm+orm',
                     'eval_precision': args.eval_precision},
        'torch': torch.__version__,
        'command': 'python ' + ' '.join(sys.argv),
    }
    if dev.type == 'cuda':
        res['peak_gpu_mb'] = torch.cuda.max_memory_allocated(dev) / 2**20
    print(json.dumps(res, indent=2))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=2)


if __name__ == '__main__':
    main()
