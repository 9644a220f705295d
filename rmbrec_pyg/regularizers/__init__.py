from rmbrec_pyg.regularizers.base import Regularizer, RegularizerInput
from rmbrec_pyg.regularizers.rrm import RRM
from rmbrec_pyg.regularizers.orm import ORM
from rmbrec_pyg.regularizers import functional  # noqa: F401 (rrm, orm)

__all__ = ['Regularizer', 'RegularizerInput', 'RRM', 'ORM', 'functional']
