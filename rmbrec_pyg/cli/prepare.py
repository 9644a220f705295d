r"""``rmbrec-prepare EVENTS.csv OUT_DIR``: a raw event log (one interaction
a line: user, item, behavior, time) to a dataset folder for rmbrec-train
(see :func:`rmbrec_pyg.data.prepare.prepare_events`)."""
import argparse
from typing import List, Optional

from rmbrec_pyg.cli import quiet_pipe
from rmbrec_pyg.cli.errors import report_user_errors
from rmbrec_pyg.data.prepare import (ID_MAPS, TIANCHI, parse_behavior_map,
                                     prepare_events)

EPILOG = f"""\
Writes count.txt, one <behavior>.txt per behavior, validation.txt and
test.txt (the target's last and second-last event of every user with at
least --min-target target events, by time) and {ID_MAPS['user']} /
{ID_MAPS['item']} (raw id -> new 1-based id; rmbrec-recommend writes raw ids
with them). Only the earliest event of every (user, item, behavior) is kept.

examples:
  rmbrec-prepare UserBehavior.csv data/taobao --preset tianchi
  rmbrec-prepare events.csv.gz data/mine --user-col uid --item-col sku \\
      --behavior-col action --time-col ts --behavior-map click=view,add=cart,order=buy
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='rmbrec-prepare', description='Turn a raw event log (one '
        'interaction a line: user, item, behavior, time) into a dataset '
        'folder for rmbrec-train.', epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('events', help='the event log, CSV (.gz also read)')
    p.add_argument('out_dir', help='the dataset folder to write')
    p.add_argument('--preset', choices=['tianchi'], default=None,
                   help='Tianchi/Taobao UserBehavior.csv layout (no header; '
                   'columns user_id,item_id,category_id,behavior_type,'
                   'timestamp; pv->view, cart, fav->collect, buy)')
    p.add_argument('--user-col', default='user',
                   help='column of the user id (default: user)')
    p.add_argument('--item-col', default='item',
                   help='column of the item id (default: item)')
    p.add_argument('--behavior-col', default='behavior',
                   help='column of the behavior (default: behavior)')
    p.add_argument('--time-col', default='timestamp',
                   help='column of the time: epoch seconds or ISO-8601 '
                   '(e.g. 2017-11-24T17:40:49; naive times are UTC) '
                   '(default: timestamp)')
    p.add_argument('--behavior-map', default=None,
                   help='raw=name pairs, e.g. pv=view,fav=collect; events '
                   'with a raw behavior not listed are dropped and counted '
                   '(default: keep every behavior under its raw name)')
    p.add_argument('--target', default='buy',
                   help='the target behavior, after --behavior-map '
                   '(default: buy)')
    p.add_argument('--min-target', type=int, default=3,
                   help='target events a user needs to get validation and '
                   'test pairs; users with fewer keep them all in training '
                   '(default: 3)')
    p.add_argument('--delimiter', default=',',
                   help='field separator (default: ,)')
    p.add_argument('--no-header', action='store_true',
                   help='the first line is data, not column names (give '
                   '--columns)')
    p.add_argument('--overwrite', action='store_true',
                   help='replace an earlier output in OUT_DIR (its dataset '
                   'files are removed first); without it such a folder is '
                   'refused')
    p.add_argument('--columns', default=None,
                   help='comma-separated column names for a file without '
                   'header')
    return p


def main(argv: Optional[List[str]] = None) -> None:
    quiet_pipe()
    args = parser().parse_args(argv)

    def run() -> None:
        kw = dict(user=args.user_col, item=args.item_col,
                  behavior=args.behavior_col, time=args.time_col,
                  header=not args.no_header,
                  columns=args.columns.split(',') if args.columns else None)
        bmap = None
        if args.preset == 'tianchi':
            kw.update(user=TIANCHI['user'], item=TIANCHI['item'],
                      behavior=TIANCHI['behavior'], time=TIANCHI['time'],
                      header=False, columns=TIANCHI['columns'])
            bmap = dict(TIANCHI['behavior_map'])
        if args.behavior_map:
            bmap = parse_behavior_map(args.behavior_map)
        summary = prepare_events(args.events, args.out_dir,
                                 target=args.target, behavior_map=bmap,
                                 delimiter=args.delimiter,
                                 min_target=args.min_target,
                                 overwrite=args.overwrite, **kw)
        print(summary.format())
        print(f'wrote {args.out_dir}')

    report_user_errors('rmbrec-prepare', run)


if __name__ == '__main__':
    main()
