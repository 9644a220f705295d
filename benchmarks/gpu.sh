#!/usr/bin/env bash
# The GPU measurements in one prepared run (under 5 minutes on one GPU):
#   1. taobao-noview: epoch and evaluation times (skipped without the data);
#   2. random graphs of full Taobao's size x1, x4 and x16: epoch, evaluation,
#      peak GPU memory;
#   3. a full training run to early stop, with the time to the best epoch
#      (taobao-noview, or the synthetic demo data without it);
#   4. the `cuda`-marked tests;
#   5. a one-process nccl torchrun smoke run.
# Writes benchmarks/results/speed_gpu.json (OUT=... to write elsewhere).
#
# Runs from a checkout with only the machine's torch and PyG installed: the
# project is put on PYTHONPATH, with hydra-core, omegaconf and antlr4 from a
# folder of pure-Python packages (`make gpu-deps` copies them from .venv into
# .gpu_deps/, an ignored folder to carry to the GPU machine):
#     bash benchmarks/gpu.sh
# A dry run of the script on a CPU: DEVICE=cpu QUICK=1 bash benchmarks/gpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
DEPS=${GPU_DEPS:-$REPO/.gpu_deps}
export PYTHONPATH="$REPO${DEPS:+:$DEPS}${PYTHONPATH:+:$PYTHONPATH}"
export OMP_WAIT_POLICY=PASSIVE
PY=${PYTHON:-python}
DEVICE=${DEVICE:-cuda}
QUICK=${QUICK:-0}
DATA=${DATA:-$REPO/../shared/data/taobao-noview}
OUT=${OUT:-$REPO/benchmarks/results/speed_gpu.json}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SCALES="1 4 16"
EPOCHS=3
[ "$QUICK" = 1 ] && SCALES="0.02 0.05" && EPOCHS=1
log() { echo "== $(date +%T) $*" >&2; }
step() {  # step NAME TIMEOUT CMD...: run, keep stdout/stderr and status
  local name=$1 limit=$2; shift 2
  log "$name"
  local t0=$SECONDS
  timeout "$limit" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err"
  echo $? > "$WORK/$name.rc"
  echo $((SECONDS - t0)) > "$WORK/$name.s"
  tail -3 "$WORK/$name.err" >&2
}

$PY - > "$WORK/env.json" <<'PY'
import json, platform, torch, torch_geometric
info = {'torch': torch.__version__, 'torch_geometric': torch_geometric.__version__,
        'python': platform.python_version(), 'cuda': torch.version.cuda,
        'device_name': torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor()}
print(json.dumps(info))
PY

# 1. taobao-noview
if [ -f "$DATA/count.txt" ]; then
  step taobao 240 $PY benchmarks/speed.py --data "$DATA" --device "$DEVICE" \
      --epochs $EPOCHS --eval-repeats 3 --json "$WORK/taobao.json"
fi
# 2. full-Taobao-size random graphs
for s in $SCALES; do
  step "synthetic_x$s" 240 $PY benchmarks/speed.py --synthetic-taobao \
      --scale "$s" --device "$DEVICE" --epochs $EPOCHS --eval-repeats 2 \
      --json "$WORK/synthetic_x$s.json"
done
# 3. a full run to early stop
if [ -f "$DATA/count.txt" ] && [ "$QUICK" != 1 ]; then
  TRAIN=(experiment=taobao_noview "data.root=$DATA")
else
  TRAIN=(trainer.max_epochs=$([ "$QUICK" = 1 ] && echo 3 || echo 200))
fi
step train 300 $PY -m rmbrec_pyg.cli.train "${TRAIN[@]}" \
    "trainer.device=$DEVICE" trainer.progress=false \
    "hydra.run.dir=$WORK/run"
# 4. the cuda-marked tests
step tests 240 env RMBREC_TEST_CUDA=1 $PY -m pytest -q -m cuda -p no:cacheprovider \
    tests/test_cuda.py
# 5. one-process torchrun (nccl on CUDA, gloo on CPU)
step torchrun 180 $PY -m torch.distributed.run --nproc_per_node=1 \
    --master_addr=127.0.0.1 --master_port=29577 -m rmbrec_pyg.cli.train \
    trainer.max_epochs=2 "trainer.device=$DEVICE" trainer.progress=false \
    "hydra.run.dir=$WORK/ddp"

$PY - "$WORK" "$OUT" "$DEVICE" <<'PY'
import csv, glob, json, os, sys
work, out, device = sys.argv[1:4]
def read(name, ext):
    path = os.path.join(work, f'{name}.{ext}')
    return open(path).read().strip() if os.path.exists(path) else None
res = {'env': json.load(open(os.path.join(work, 'env.json'))),
       'device': device, 'command': 'bash benchmarks/gpu.sh', 'steps': {}}
for rc in sorted(glob.glob(os.path.join(work, '*.rc'))):
    name = os.path.basename(rc)[:-3]
    entry = {'exit': int(read(name, 'rc')), 'seconds': int(read(name, 's'))}
    if os.path.exists(os.path.join(work, f'{name}.json')):
        entry['speed'] = json.load(open(os.path.join(work, f'{name}.json')))
    if entry['exit'] != 0:
        entry['stderr_tail'] = (read(name, 'err') or '')[-2000:]
    res['steps'][name] = entry
run = os.path.join(work, 'run')
if os.path.exists(os.path.join(run, 'metrics.json')):
    m = json.load(open(os.path.join(run, 'metrics.json')))
    rows = list(csv.DictReader(open(os.path.join(run, 'metrics.csv'))))
    upto = [r for r in rows if int(r['epoch']) <= m['best_epoch']]
    res['steps']['train'].update({
        'best_epoch': m['best_epoch'], 'epochs': len(rows),
        'protocol': m['protocol'], 'test': m['test'],
        'train_s_to_best': sum(float(r['train_s']) for r in upto),
        'eval_s_to_best': sum(float(r.get('eval_s') or 0) for r in upto),
        'train_s_per_epoch_median': sorted(
            float(r['train_s']) for r in rows)[len(rows) // 2]})
tests = read('tests', 'out')
if tests:
    res['steps']['tests']['summary'] = tests.splitlines()[-1]
os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
json.dump(res, open(out, 'w'), indent=2)
print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk in ('exit', 'seconds', 'summary', 'best_epoch', 'train_s_to_best')}
                  for k, v in res['steps'].items()}, indent=1))
print('wrote', out)
PY
