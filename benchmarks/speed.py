r"""Time RMBRec training epochs and one validation+test evaluation with the
paper's settings (the config defaults: 64-d, 3 layers, batch 1024 users,
whole-graph propagation for every batch, RRM + ORM), composed from the
Hydra configs with the overrides of ``conf/benchmarks/speed.yaml``.

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
from typing import Any, Dict, List, Tuple

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import bench_config  # noqa: E402

from rmbrec_pyg.cli.builders import build_trainer, compose_config  # noqa
from rmbrec_pyg.evaluation import resolve_precision  # noqa: E402
from rmbrec_pyg.train.checkpoint import (load_checkpoint,  # noqa: E402
                                         load_encoder_state)


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
    parser.add_argument('--eval-precision', default='auto',
                        choices=['auto', 'fp32', 'bf16'])
    parser.add_argument('--eval-candidates', type=int, default=512,
                        help='pre-pass candidates per user group (0: rank '
                        'every user in full)')
    parser.add_argument('--eval-clusters', type=int, default=64)
    parser.add_argument('--no-retain-memory', action='store_true',
                        help="glibc's default malloc trimming (for "
                        'comparison)')
    parser.add_argument('--eval-checkpoint', default=None,
                        help="time evaluation with this run's best.pt "
                        '(same data) instead of the briefly trained model: '
                        'a trained model has more hits to rank in full')
    parser.add_argument('--json', default=None, help='write results here')
    parser.add_argument('overrides', nargs='*',
                        help='more config overrides, e.g. encoder.num_layers=2')
    args = parser.parse_args()
    warnings.filterwarnings('ignore')

    lists = bench_config('speed')
    if args.data:
        overrides = [o.format(root=os.path.abspath(args.data))
                     for o in lists['folder']]
        source = os.path.basename(os.path.normpath(args.data))
    else:
        overrides = [o.format(scale=args.scale)
                     for o in lists['synthetic_taobao']]
        source = f'synthetic-taobao x{args.scale:g}'
    overrides += [
        f'trainer.max_epochs={args.epochs}',
        f'trainer.batch_size={args.batch_size}',
        f'trainer.device={args.device}',
        f'trainer.num_threads={args.threads}',
        f'eval.precision={args.eval_precision}',
        f'eval.candidates={args.eval_candidates}',
        f'eval.clusters={args.eval_clusters}',
        f'trainer.retain_freed_memory={not args.no_retain_memory}',
        f'encoder.layer_combination={args.layer_combination}',
        f'+encoder.fused={not args.no_fused}'] + args.overrides
    cfg = compose_config(overrides)
    t0 = time.perf_counter()
    trainer = build_trainer(cfg)
    setup_s = time.perf_counter() - t0
    data = trainer.data
    nu, ni = int(data['user'].num_nodes), int(data['item'].num_nodes)
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
    eval_model = f'after {args.epochs} epochs'
    if args.eval_checkpoint:
        state = load_checkpoint(args.eval_checkpoint, map_location=dev)
        load_encoder_state(trainer.encoder, state['encoder'])
        eval_model = f"{args.eval_checkpoint} (epoch {state.get('epoch')})"

    def time_eval() -> Tuple[List[float], Dict[str, Any]]:
        times, metrics = [], {}
        for _ in range(args.eval_repeats):
            sync(dev)
            t = time.perf_counter()
            metrics = trainer.evaluate(('val', 'test'))
            sync(dev)
            times.append(time.perf_counter() - t)
        return times, metrics

    evals, metrics = time_eval()
    print(f'evaluation: {statistics.median(evals):.2f}s', flush=True)
    # The same evaluation without the pre-pass (every user ranked in full):
    # the metrics must agree exactly.
    trainer.evaluator.candidates = 0
    evals_full, metrics_full = time_eval()
    print(f'evaluation without pre-pass: {statistics.median(evals_full):.2f}s',
          flush=True)
    if metrics_full['val'] != metrics['val'] or \
            metrics_full['test'] != metrics['test']:
        raise SystemExit('pre-pass changed the metrics: '
                         f"{metrics['test']} vs {metrics_full['test']}")
    res: Dict[str, Any] = {
        'source': source,
        'train_epoch_s': statistics.median(epochs),
        'train_epoch_s_all': epochs,
        'eval_s': statistics.median(evals),
        'eval_s_all': evals,
        'eval_s_without_prepass': statistics.median(evals_full),
        'eval_model': eval_model,
        'eval_test_metrics': metrics['test'],
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
        'settings': {'embedding_dim': cfg.encoder.embedding_dim,
                     'num_layers': cfg.encoder.num_layers,
                     'batch_size': args.batch_size,
                     'layer_combination': args.layer_combination,
                     'fused': not args.no_fused,
                     'regularizers': '+'.join(
                         k for k, r in trainer.objective.regularizers.items()
                         if r.weight > 0),
                     'eval_precision': resolve_precision(
                         args.eval_precision, dev),
                     'eval_candidates': args.eval_candidates,
                     'eval_clusters': args.eval_clusters,
                     'retain_freed_memory': not args.no_retain_memory},
        'overrides': overrides,
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
