import json

from rmbrec_pyg.cli.report import collect, table_columns, write_tables


def _run(root, name, overrides, valid, test):
    run = root / name
    (run / '.hydra').mkdir(parents=True)
    (run / '.hydra' / 'overrides.yaml').write_text(
        ''.join(f'- {o}\n' for o in overrides))
    metrics = {k: {f'{m}@{n}': v + 0.001 * n for m in ('HR', 'NDCG', 'MRR')
                   for n in (10, 20)} for k, v in (('valid', valid),
                                                   ('test', test))}
    (run / 'metrics.json').write_text(json.dumps(
        {'best_epoch': 4, 'protocol': 'user/full', **metrics}))


def test_report_table_says_shared_settings_once(tmp_path):
    for n, w in enumerate(('0.1', '1.0', '2.0')):
        _run(tmp_path, f'cell{n}', [f'regularizer.rrm.weight={w}',
                                    'regularizer.orm.weight=0.5',
                                    'trainer.max_epochs=5'], 0.1 * n, 0.2)
    rows = collect(str(tmp_path))
    columns, shared = table_columns(rows)
    # what varies, and the two headline metrics of each split
    assert columns == ['run', 'regularizer.rrm.weight', 'valid HR@10',
                       'valid NDCG@10', 'test HR@10', 'test NDCG@10']
    assert shared == {'regularizer.orm.weight': '0.5',
                      'trainer.max_epochs': '5', 'best_epoch': '4',
                      'protocol': 'user/full'}
    write_tables(rows, str(tmp_path))
    md = (tmp_path / 'report.md').read_text()
    assert 'The same in every run: regularizer.orm.weight=0.5, ' \
        'trainer.max_epochs=5, best_epoch 4, protocol user/full.' in md
    header = [ln for ln in md.splitlines() if ln.startswith('| run')][0]
    assert header.count('|') == len(columns) + 1
    # best validation first
    first = md.splitlines().index(header) + 2
    assert md.splitlines()[first].startswith('| cell2 | 2.0 |')
    # the CSV keeps every column
    csv_header = (tmp_path / 'report.csv').read_text().splitlines()[0]
    assert 'valid MRR@20' in csv_header and 'trainer.max_epochs' in csv_header


def test_report_of_one_run_shows_everything(tmp_path):
    _run(tmp_path, 'only', ['trainer.max_epochs=5'], 0.1, 0.2)
    columns, shared = table_columns(collect(str(tmp_path)))
    assert shared == {}
    assert columns[:4] == ['run', 'trainer.max_epochs', 'best_epoch',
                           'protocol']
