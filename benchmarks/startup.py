r"""Start-up: wall seconds of every console command's ``--help`` (median of
N runs, each a fresh interpreter), of ``import torch`` alone beside it for
scale, and of ``rmbrec-prepare`` on a 60,000-event RetailRocket-style export
(``timestamp,visitorid,event,itemid,transactionid``, millisecond times,
generated with a fixed seed). The issue's targets on the 2-core machine:
``--help`` 1.5 s, the prepare 5 s.

    python benchmarks/startup.py --repeats 7 --json benchmarks/results/startup.json
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import command_line, save_json  # noqa: E402

COMMANDS = ['train', 'evaluate', 'recommend', 'prepare', 'stats', 'report']


def wall(argv: List[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def retailrocket_export(path: str, events: int = 60_000,
                        seed: int = 0) -> str:
    r"""Writes a RetailRocket-style event log of :obj:`events` lines."""
    rng = random.Random(seed)
    kinds = ['view'] * 90 + ['addtocart'] * 7 + ['transaction'] * 3
    with open(path, 'w') as f:
        f.write('timestamp,visitorid,event,itemid,transactionid\n')
        t = 1_433_221_332_117
        for n in range(events):
            t += rng.randint(1, 4000)
            kind = rng.choice(kinds)
            tid = str(n) if kind == 'transaction' else ''
            f.write(f'{t},{rng.randint(1, 4000)},{kind},'
                    f'{rng.randint(1, 9000)},{tid}\n')
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--repeats', type=int, default=7)
    p.add_argument('--json', default='benchmarks/results/startup.json')
    args = p.parse_args()
    bindir = os.path.dirname(sys.executable)
    cases: Dict[str, List[str]] = {
        f'rmbrec-{c} --help': [os.path.join(bindir, f'rmbrec-{c}'), '--help']
        for c in COMMANDS}
    cases['python -c "import torch"'] = [sys.executable, '-c',
                                         'import torch']
    work = tempfile.mkdtemp()
    events = retailrocket_export(os.path.join(work, 'events.csv'))
    cases['rmbrec-prepare (60,000 events)'] = [
        os.path.join(bindir, 'rmbrec-prepare'), events,
        os.path.join(work, 'out'), '--user-col', 'visitorid', '--item-col',
        'itemid', '--behavior-col', 'event', '--behavior-map',
        'view=view,addtocart=cart,transaction=buy', '--overwrite']
    times: Dict[str, List[float]] = {k: [] for k in cases}
    try:
        for _ in range(args.repeats):  # interleaved: drift hits every case
            for name, argv in cases.items():
                times[name].append(wall(argv))
    finally:
        shutil.rmtree(work)
    out = {'median_s': {k: round(statistics.median(v), 3)
                        for k, v in times.items()},
           'max_s': {k: round(max(v), 3) for k, v in times.items()},
           'repeats': args.repeats, '_command': command_line()}
    for name, s in out['median_s'].items():
        print(f'{name:34s} {s:6.3f} s (max {out["max_s"][name]:.3f})')
    save_json(out, args.json)


if __name__ == '__main__':
    main()
