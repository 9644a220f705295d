import subprocess
import sys

from rmbrec_pyg.data import load_folder
from rmbrec_pyg.data.prepare import prepare_events


def test_prepare_leave_one_out(tmp_path):
    rows = ['user,item,behavior,timestamp',
            'a,x,buy,10', 'a,y,buy,20', 'a,z,buy,30', 'a,x,buy,40',
            'a,w,cart,5', 'a,w,cart,50', 'b,x,buy,1', 'b,y,click,2',
            'bad line', 'c,y,buy,3', 'c,x,buy,4', 'c,z,buy,9', 'c,w,buy,7',
            'b,z,spam,3']
    path = tmp_path / 'ev.csv'
    path.write_text('\n'.join(rows) + '\n')
    out = tmp_path / 'ds'
    s = prepare_events(str(path), str(out),
                       behavior_map={'buy': 'buy', 'cart': 'cart',
                                     'click': 'view'}, chunk_lines=3)
    assert s.malformed == 1 and s.unknown_behavior == 1
    assert s.first_errors == [f'{path}, line 10: expected 4 fields, got 1']
    assert s.duplicates == 2  # a,x,buy@40 and a,w,cart@50
    assert s.heldout_users == 2 and s.train_only_users == 1  # b: 1 buy
    # users a=1, b=2, c=3; items x=1, y=2, z=3, w=4 (order of appearance)
    assert (out / 'test.txt').read_text().split('\n')[:2] == ['1 3', '3 3']
    assert (out / 'validation.txt').read_text().split('\n')[:2] == ['1 2',
                                                                    '3 4']
    assert (out / 'buy.txt').read_text().split() == ['1', '1', '2', '1',
                                                     '3', '1', '3', '2']
    data = load_folder(str(out))
    assert data.behaviors == ['cart', 'view', 'buy']
    assert data['user', 'cart', 'item'].edge_index.tolist() == [[0], [3]]


def test_prepare_cli_tianchi(tmp_path):
    path = tmp_path / 'UserBehavior.csv'
    lines = []
    for u in range(1, 6):
        for k in range(4):
            lines.append(f'{u},{100 + k},7,buy,{1000 * u + k}')
        lines.append(f'{u},{200 + u},7,pv,{u}')
        lines.append(f'{u},{100},7,fav,{u}')
    path.write_text('\n'.join(lines) + '\n')
    res = subprocess.run([sys.executable, '-m', 'rmbrec_pyg.cli.prepare',
                          str(path), str(tmp_path / 'out'), '--preset',
                          'tianchi'], capture_output=True, text=True,
                         check=True)
    assert 'held-out validation/test pairs for 5 users' in res.stdout
    data = load_folder(str(tmp_path / 'out'))
    assert sorted(data.behaviors) == ['buy', 'collect', 'view']
    assert data['user', 'buy', 'item'].val_edge_label_index.size(1) == 5


def test_prepare_drops_missing_ids(tmp_path):
    rows = ['user,item,behavior,timestamp',
            'a,x,buy,1', 'a,y,buy,2', 'a,z,buy,3', ',x,buy,4', 'b,,buy,5',
            'N/A,y,buy,6', 'b, null ,cart,7', 'b,x,buy,8']
    path = tmp_path / 'ev.csv'
    path.write_text('\n'.join(rows) + '\n')
    s = prepare_events(str(path), str(tmp_path / 'ds'))
    assert s.malformed == 4
    assert s.first_errors[:3] == [f"{path}, line 5: missing user id ''",
                                  f"{path}, line 6: missing item id ''",
                                  f"{path}, line 7: missing user id 'N/A'"]
    # only a and b are users, x, y and z items: no id '' or 'N/A'
    assert s.users == 2 and s.items == 3
    users = (tmp_path / 'ds' / 'user_ids.csv').read_text().split()[1:]
    assert [u.split(',')[0] for u in users] == ['a', 'b']
    assert not (tmp_path / 'ds' / 'cart.txt').exists()


def test_prepare_refuses_a_folder_with_an_earlier_output(tmp_path):
    import pytest

    from rmbrec_pyg.data.errors import ConfigError
    path = tmp_path / 'ev.csv'
    path.write_text('user,item,behavior,timestamp\n'
                    'a,x,buy,1\na,y,buy,2\na,z,buy,3\na,w,cart,4\n')
    out = tmp_path / 'ds'
    prepare_events(str(path), str(out))
    # an earlier export had a click behavior; this one has none
    (out / 'click.txt').write_text('1 1\n')
    (out / 'old.txt.gz').write_bytes(b'')
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(ConfigError, match='holds an earlier output '
                       r'\(buy.txt, cart.txt, click.txt, count.txt, ...\)'):
        prepare_events(str(path), str(out))
    assert sorted(p.name for p in out.iterdir()) == before
    res = subprocess.run([sys.executable, '-m', 'rmbrec_pyg.cli.prepare',
                          str(path), str(out)], capture_output=True,
                         text=True)
    assert res.returncode == 2 and '--overwrite' in res.stderr
    assert res.stderr.count('\n') == 1
    prepare_events(str(path), str(out), overwrite=True)
    assert not (out / 'click.txt').exists()
    assert not (out / 'old.txt.gz').exists()
    assert sorted(load_folder(str(out)).behaviors) == ['buy', 'cart']
    # the log itself may sit in the output folder
    inside = out / 'events.txt'
    inside.write_text(path.read_text())
    prepare_events(str(inside), str(out), overwrite=True)
    assert inside.exists()
