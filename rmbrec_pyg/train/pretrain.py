r"""Pre-training of a model's base embeddings before its main training (the
LightGCN initialisation of MB-CGCN)."""
import logging
import math
from typing import Any, Dict, Optional

import torch

from rmbrec_pyg.train.epoch_terms import EpochTerms

log = logging.getLogger(__name__)


def pretrain_embeddings(trainer: Any) -> Optional[Dict[str, Any]]:
    r"""Trains :obj:`model.pretrain_loss` of the trainer's model alone, for
    at most :obj:`model.pretrain_epochs` epochs, and leaves in the model's
    base embeddings those of the epoch whose :obj:`model.pretrain_embedding`
    scores best on validation (the trainer's monitor, validated every
    :obj:`pretrain_eval_every` epochs, stopped after
    :obj:`pretrain_patience` epochs without improvement). The batches,
    sampler and random source are the trainer's, so a seeded run repeats;
    the optimiser is a fresh Adam over the base embeddings with the
    trainer's learning rate and no weight decay.

    Every validated epoch is logged and, in a run dir, appended to
    ``pretrain.csv`` (epoch, mean loss, the monitored metric).

    Returns :obj:`None` for a model without pre-training, else a summary:
    ``epochs`` run, ``best_epoch`` and its ``valid`` metrics.
    """
    model = trainer.encoder
    epochs = int(getattr(model, 'pretrain_epochs', 0))
    if epochs <= 0:
        return None
    cfg = trainer.config
    params = [model.user_embedding.weight, model.item_embedding.weight]
    optimizer = torch.optim.Adam(params, lr=trainer.optim_config.lr)
    best: Dict[str, Any] = {'epoch': 0, 'score': -math.inf, 'valid': {},
                            'weights': [p.detach().clone() for p in params]}
    csv = trainer.checkpoints.path('pretrain.csv') \
        if trainer.rank == 0 else None
    if csv is not None:
        with open(csv, 'w') as f:
            f.write(f'epoch,loss_total,valid_{cfg.monitor}\n')
    epoch = 0
    for epoch in range(1, epochs + 1):
        model.train()
        terms = EpochTerms()
        for users in trainer.progress(f'pretrain {epoch}'):
            loss, step_terms = model.pretrain_loss(trainer.adj,
                                                   *trainer.sample(users))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            terms.add(step_terms)
        total = terms.means(epoch)['total']  # raises if not finite
        if epoch % cfg.pretrain_eval_every and epoch != epochs:
            continue
        model.eval()
        with torch.no_grad():
            valid = trainer.evaluator(*model.pretrain_embedding(trainer.adj),
                                      ('val', ), False)['val']
        improved = valid[cfg.monitor] > best['score']
        if csv is not None:
            with open(csv, 'a') as f:
                f.write(f'{epoch},{total},{valid[cfg.monitor]}\n')
        log.info(f'pretrain {epoch:3d} | loss {total:.4f} | '
                 f'valid_{cfg.monitor} {valid[cfg.monitor]:.4f}' +
                 (' *' if improved else ''))
        if improved:
            best.update(epoch=epoch, score=valid[cfg.monitor], valid=valid,
                        weights=[p.detach().clone() for p in params])
        elif epoch - best['epoch'] > cfg.pretrain_patience:
            break
    with torch.no_grad():
        for p, w in zip(params, best['weights']):
            p.copy_(w)
    return {'epochs': epoch, 'best_epoch': best['epoch'],
            'valid': best['valid']}
