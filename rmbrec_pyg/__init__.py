r"""RMBRec as a PyTorch Geometric extension.

The package follows the pipeline order: :mod:`rmbrec_pyg.data` (folders and
synthetic generators to :class:`~torch_geometric.data.HeteroData`),
:mod:`rmbrec_pyg.graph` (adjacency, sampling, transforms),
:mod:`rmbrec_pyg.nn` (the multi-behavior LightGCN encoder),
:mod:`rmbrec_pyg.regularizers` (RRM and ORM), :mod:`rmbrec_pyg.loss`,
:mod:`rmbrec_pyg.train`, :mod:`rmbrec_pyg.evaluation` and
:mod:`rmbrec_pyg.cli` (the only place that imports Hydra).
"""

__version__ = "0.1.0"
