r"""``rmbrec-prepare EVENTS.csv OUT_DIR``: raw event log -> dataset folder
(see :func:`rmbrec_pyg.data.prepare.prepare_events`)."""
import argparse
from typing import List, Optional

from rmbrec_pyg.cli.errors import report_user_errors
from rmbrec_pyg.data.prepare import TIANCHI, prepare_events


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(prog='rmbrec-prepare',
                                description=__doc__.split('\n')[0])
    p.add_argument('events')
    p.add_argument('out_dir')
    p.add_argument('--preset', choices=['tianchi'], default=None,
                   help='Tianchi/Taobao UserBehavior.csv layout (no header; '
                   'pv->view, cart, fav->collect, buy)')
    p.add_argument('--user-col', default='user')
    p.add_argument('--item-col', default='item')
    p.add_argument('--behavior-col', default='behavior')
    p.add_argument('--time-col', default='timestamp')
    p.add_argument('--behavior-map', default=None,
                   help='raw=name pairs, e.g. pv=view,fav=collect; raw '
                   'names not listed are dropped')
    p.add_argument('--target', default='buy')
    p.add_argument('--min-target', type=int, default=3)
    p.add_argument('--delimiter', default=',')
    p.add_argument('--no-header', action='store_true')
    p.add_argument('--columns', default=None,
                   help='comma-separated column names for a file without '
                   'header')
    args = p.parse_args(argv)

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
            bmap = dict(kv.split('=', 1) for kv in
                        args.behavior_map.split(','))
        summary = prepare_events(args.events, args.out_dir,
                                 target=args.target, behavior_map=bmap,
                                 delimiter=args.delimiter,
                                 min_target=args.min_target, **kw)
        print(summary.format())
        print(f'wrote {args.out_dir}')

    report_user_errors('rmbrec-prepare', run)


if __name__ == '__main__':
    main()
