r"""``rmbrec-stats DATA_DIR``: users, items, edges per behavior, BAR per
auxiliary behavior and DT (paper Eq. 11, Table 1)."""
import argparse
import warnings
from typing import List, Optional

from rmbrec_pyg.cli import quiet_pipe
from rmbrec_pyg.cli.errors import report_user_errors


def main(argv: Optional[List[str]] = None) -> None:
    quiet_pipe()
    parser = argparse.ArgumentParser(
        prog='rmbrec-stats', description=__doc__.split('\n')[0])
    parser.add_argument('data_dir', help='dataset folder (count.txt, '
                        '<behavior>.txt, validation.txt, test.txt)')
    parser.add_argument('--target', default='buy',
                        help='target behavior (default: buy)')
    parser.add_argument('--behaviors', default=None,
                        help='comma-separated behaviors (default: all files)')
    args = parser.parse_args(argv)
    behaviors = args.behaviors.split(',') if args.behaviors else None

    def run() -> None:
        from rmbrec_pyg.data.dataset import load_folder  # torch: on use
        from rmbrec_pyg.data.stats import compute_stats
        with warnings.catch_warnings():
            warnings.simplefilter('always')
            data = load_folder(args.data_dir, behaviors, args.target)
        print(compute_stats(data).format())

    report_user_errors('rmbrec-stats', run)


if __name__ == '__main__':
    main()
