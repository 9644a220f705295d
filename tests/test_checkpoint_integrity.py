r"""A checkpoint carries the checksums of its tensors and the fingerprint of
the data it was trained on: a damaged or altered file, or data that changed
under a model, is refused by a resume, ``rmbrec-evaluate`` and
``rmbrec-recommend`` (one line, exit 2)."""
import os
import random
import struct
import subprocess
import sys
import zipfile

import pytest
import torch

from rmbrec_pyg.data.errors import CheckpointError
from rmbrec_pyg.testing import write_folder
from rmbrec_pyg.train.checkpoint import load_checkpoint, save_checkpoint

ENV = dict(os.environ, OMP_NUM_THREADS='1')
FAST = ['trainer.batch_size=64', 'encoder.embedding_dim=8',
        'trainer.progress=false']


def _run(module, args, cwd):
    return subprocess.run([sys.executable, '-m', module] + list(args),
                          cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=300)


def _fails(res, *needles):
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and 'Traceback' not in res.stderr, res.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


def _data(root, seed=0):
    rng = random.Random(seed)
    users, items = 40, 30
    buy = sorted({(u, rng.randint(1, items)) for u in range(1, users + 1)
                  for _ in range(3)})
    cart = sorted({(u, rng.randint(1, items)) for u in range(1, users + 1)
                   for _ in range(3)})
    val = [(u, rng.randint(1, items)) for u in range(1, users + 1)]
    test = [(u, rng.randint(1, items)) for u in range(1, users + 1)]
    val = [p for p in val if p not in buy]
    test = [p for p in test if p not in buy and p not in val]
    return write_folder(str(root), users, items, {'cart': cart, 'buy': buy},
                        val, test)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp('integrity')
    data = _data(base / 'data')
    run = base / 'run'
    res = _run('rmbrec_pyg.cli.train', FAST + [
        'data=folder', f'data.root={data}', 'trainer.max_epochs=2',
        f'hydra.run.dir={run}'], base)
    assert res.returncode == 0, res.stderr[-2000:]
    return base, data, run


def _copy_run(trained, tmp_path):
    import shutil
    base, data, run = trained
    shutil.copytree(run, tmp_path / 'run')
    shutil.copytree(data, tmp_path / 'data')
    return tmp_path / 'run', tmp_path / 'data'


def _flip_tensor_bytes(path, count=64):
    # Flips bytes inside the largest tensor record of torch.save's zip
    # archive, as a damaged disk or copy would: the archive stays readable.
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if '/data/' in i.filename),
                   key=lambda i: i.file_size)
    with open(path, 'r+b') as f:
        f.seek(info.header_offset)
        header = f.read(30)
        name_len, extra_len = struct.unpack('<HH', header[26:30])
        start = info.header_offset + 30 + name_len + extra_len
        f.seek(start + info.file_size // 2)
        chunk = bytearray(f.read(count))
        f.seek(start + info.file_size // 2)
        f.write(bytes(b ^ 0xFF for b in chunk))


def test_checkpoints_carry_checksums_and_the_data_fingerprint(trained):
    _, _, run = trained
    for name in ('best.pt', 'last.pt'):
        state = load_checkpoint(str(run / name))
        assert any(k.startswith('encoder.') for k in state['checksums'])
        assert set(state['data']) == {'nodes', 'target', 'behavior cart',
                                      'behavior buy', 'val pairs',
                                      'test pairs'}
        assert state['data']['nodes'] == '40 users x 30 items'


def test_flipped_tensor_bytes_are_refused(trained, tmp_path):
    run, data = _copy_run(trained, tmp_path)
    for name in ('best.pt', 'last.pt'):
        _flip_tensor_bytes(run / name)
        # torch itself reads the damaged file without a word
        torch.load(run / name, weights_only=True)
        with pytest.raises(CheckpointError, match='does not match the '
                           'checksum'):
            load_checkpoint(str(run / name))
    _fails(_run('rmbrec_pyg.cli.evaluate', [str(run)], tmp_path),
           'best.pt', 'does not match the checksum saved with it')
    _fails(_run('rmbrec_pyg.cli.recommend', [f'checkpoint={run}/best.pt',
                                             f'output={tmp_path}/r.csv'],
                tmp_path), 'best.pt', 'does not match the checksum')
    _fails(_run('rmbrec_pyg.cli.train', FAST + [
        'data=folder', f'data.root={data}', 'trainer.max_epochs=3',
        'trainer.resume=true', f'hydra.run.dir={run}'], tmp_path),
        'last.pt', 'does not match the checksum')


def test_a_changed_data_folder_is_refused(trained, tmp_path):
    run, data = _copy_run(trained, tmp_path)
    import yaml
    cfg = yaml.safe_load((run / 'config_resolved.yaml').read_text())
    # the checkpoints name the original folder: point them at the copy
    for name in ('best.pt', 'last.pt'):
        state = load_checkpoint(str(run / name))
        state['run_config']['data']['root'] = str(data)
        save_checkpoint(state, str(run / name))
    cfg['data']['root'] = str(data)
    (run / 'config_resolved.yaml').write_text(yaml.safe_dump(cfg))
    # unchanged data: evaluated and served
    assert _run('rmbrec_pyg.cli.evaluate', [str(run)],
                tmp_path).returncode == 0
    lines = (data / 'buy.txt').read_text().splitlines()
    (data / 'buy.txt').write_text('\n'.join(lines[:-1]) + '\n')
    _fails(_run('rmbrec_pyg.cli.evaluate', [str(run)], tmp_path),
           'best.pt', 'not what the model was trained on', 'behavior buy')
    _fails(_run('rmbrec_pyg.cli.recommend', [f'checkpoint={run}/best.pt',
                                             f'output={tmp_path}/r.csv'],
                tmp_path), 'not what the model was trained on')
    assert not (tmp_path / 'r.csv').exists()
    res = _run('rmbrec_pyg.cli.train', FAST + [
        'data=folder', f'data.root={data}', 'trainer.max_epochs=3',
        'trainer.resume=true', f'hydra.run.dir={run}'], tmp_path)
    _fails(res, 'last.pt', 'not what the model was trained on',
           'behavior buy')


def test_checkpoints_without_a_model_or_of_another_shape(trained, tmp_path):
    run, _ = _copy_run(trained, tmp_path)
    state = load_checkpoint(str(run / 'best.pt'))
    no_encoder = {k: v for k, v in state.items() if k != 'encoder'}
    save_checkpoint(no_encoder, str(tmp_path / 'no_encoder.pt'))
    _fails(_run('rmbrec_pyg.cli.recommend', [
        f'checkpoint={tmp_path}/no_encoder.pt', f'output={tmp_path}/r.csv'],
        tmp_path), 'no_encoder.pt', "no 'encoder' entry")
    wrong = dict(state, encoder={
        k: (torch.zeros(v.shape[0] + 3, *v.shape[1:]) if v.dim() == 2
            else v) for k, v in state['encoder'].items()})
    save_checkpoint(wrong, str(run / 'best.pt'))
    _fails(_run('rmbrec_pyg.cli.evaluate', [str(run)], tmp_path),
           'best.pt', 'the weights do not fit the model')
