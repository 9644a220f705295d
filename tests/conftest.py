import os

import pytest
import torch

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
