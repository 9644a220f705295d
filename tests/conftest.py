import os

# The suite runs on the CPU even where a GPU is present: its graphs are tiny,
# and every process that starts CUDA (most tests start a CLI subprocess)
# pays seconds of context start-up for no gain. The GPU tests
# (`@pytest.mark.cuda`, tests/test_cuda.py) run with RMBREC_TEST_CUDA=1:
#     RMBREC_TEST_CUDA=1 python -m pytest -m cuda
# This must happen before torch starts CUDA, hence before importing it.
if os.environ.get('RMBREC_TEST_CUDA') != '1':
    os.environ['CUDA_VISIBLE_DEVICES'] = ''

import pytest  # noqa: E402
import torch  # noqa: E402

# Tests run beside other torch jobs on 2 cores: one thread avoids thrashing.
torch.set_num_threads(1)
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')


@pytest.fixture
def tiny():
    from rmbrec_pyg.testing import fake_multi_behavior
    return fake_multi_behavior()


@pytest.fixture
def taobao_noview():
    from rmbrec_pyg.testing import shared_dataset
    path = shared_dataset('taobao-noview')
    if path is None:
        pytest.skip('../shared/data/taobao-noview is absent (real data for '
                    'benchmarks is not shipped with the repository)')
    return path


@pytest.fixture
def cuda():
    if os.environ.get('RMBREC_TEST_CUDA') != '1':
        pytest.skip('GPU test: run with RMBREC_TEST_CUDA=1 python -m pytest '
                    '-m cuda')
    if not torch.cuda.is_available():
        pytest.skip('no CUDA device')
    return torch.device('cuda')
