r"""Example 3: a lambda1 x lambda2 sweep with Hydra multirun, and its report.

    python examples/lambda_sweep.py [EPOCHS]

runs ``rmbrec-train -m sweep=lambda_grid`` (conf/sweep/lambda_grid.yaml: one
run dir per (lambda1, lambda2) cell, named after its overrides) on the
synthetic data, then ``rmbrec-report`` on the sweep folder, which writes
``report.md``, ``report.csv`` and ``lambda_heatmap.png``.
"""
import os
import subprocess
import sys


def main() -> None:
    epochs = sys.argv[1] if len(sys.argv) > 1 else '10'
    sweep_dir = os.path.abspath(os.path.join('outputs', 'examples',
                                             'lambda_sweep'))
    subprocess.run([
        sys.executable, '-m', 'rmbrec_pyg.cli.train', '-m', 'sweep=lambda_grid',
        f'trainer.max_epochs={epochs}', 'trainer.batch_size=256',
        'trainer.progress=false', f'hydra.sweep.dir={sweep_dir}'
    ], check=True)
    subprocess.run([sys.executable, '-m', 'rmbrec_pyg.cli.report', sweep_dir],
                   check=True)


if __name__ == '__main__':
    main()
