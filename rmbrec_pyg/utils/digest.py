r"""Checksums of tensors: CRC-32 of their bytes with their dtype and shape,
to find a damaged or altered checkpoint and to tell one dataset from
another (not a defence against deliberate forgery: a file that wants to
pass can carry matching checksums)."""
import zlib
from typing import Any, Dict, List, Mapping

import torch
from torch import Tensor


def tensor_digest(tensor: Tensor) -> str:
    r"""``crc32:dtype:shape`` of :obj:`tensor` (any device, dtype and
    layout: a sparse tensor is summed up by its indices and values)."""
    t = tensor.detach()
    if t.layout != torch.strided:
        t = t.coalesce() if t.is_sparse else t.to_sparse().coalesce()
        parts = f'{tensor_digest(t.indices())}|{tensor_digest(t.values())}'
        return f'{zlib.crc32(parts.encode()):08x}:{t.dtype}:' \
               f"{'x'.join(map(str, t.shape))}"
    flat = t.cpu().contiguous().reshape(-1)
    crc = zlib.crc32(flat.view(torch.uint8).numpy()) if flat.numel() else 0
    return f"{crc:08x}:{t.dtype}:{'x'.join(map(str, t.shape))}"


def tensor_digests(state: Any, prefix: str = '') -> Dict[str, str]:
    r"""The :func:`tensor_digest` of every tensor in :obj:`state` (nested
    dicts, lists and tuples), keyed by its dotted path."""
    out: Dict[str, str] = {}
    if isinstance(state, Tensor):
        out[prefix] = tensor_digest(state)
    elif isinstance(state, dict):
        for k, v in state.items():
            out.update(tensor_digests(v, f'{prefix}.{k}' if prefix
                                      else str(k)))
    elif isinstance(state, (list, tuple)):
        for i, v in enumerate(state):
            out.update(tensor_digests(v, f'{prefix}.{i}' if prefix
                                      else str(i)))
    return out


def changed_keys(saved: Mapping[str, Any], now: Mapping[str, Any]) -> List[str]:
    r"""The keys whose values differ between two checksum maps (present in
    one only, or with another value), :obj:`saved`'s first, in order."""
    return [k for k in list(saved) + [k for k in now if k not in saved]
            if saved.get(k) != now.get(k)]
