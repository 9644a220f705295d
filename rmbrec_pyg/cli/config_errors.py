r"""Mistakes in ``rmbrec-train``'s overrides, said in one line with a hint:
the closest existing key for a misspelt one, the type a value needs, the
extra to install for a sweeper that is missing. Hydra's own messages for
these are several lines and name neither."""
import difflib
import re
from typing import Any, Iterable, List, Optional, Sequence

from omegaconf import DictConfig

#: OmegaConf's type names -> what to tell the user.
EXPECTED = {'Integer': 'an integer', 'Float': 'a number',
            'Boolean': 'true or false', 'bool': 'true or false',
            'String': 'a string'}


def dotted_keys(node: Any, prefix: str = '') -> List[str]:
    r"""Every dotted key of a config (leaves and nodes)."""
    out: List[str] = []
    if isinstance(node, DictConfig):
        for k in node.keys():
            key = f'{prefix}.{k}' if prefix else str(k)
            out.append(key)
            child = node._get_node(k)
            if isinstance(child, DictConfig):
                out += dotted_keys(child, key)
    return out


def closest(key: str, keys: Iterable[str]) -> Optional[str]:
    r"""The key of :obj:`keys` most like :obj:`key`, preferring one in the
    same group (:obj:`None` if none is close)."""
    keys = list(keys)
    group = key.rsplit('.', 1)[0] if '.' in key else ''
    same = [k for k in keys if group and k.startswith(group + '.')]
    for pool in (same, keys):
        match = difflib.get_close_matches(key, pool, n=1, cutoff=0.6)
        if match:
            return match[0]
    return None


def suggestion(key: str, keys: Iterable[str]) -> str:
    r"""`` (did you mean 'KEY'?)`` with the closest of :obj:`keys`, or
    nothing."""
    best = closest(key, keys)
    return f" (did you mean '{best}'?)" if best else ''


def _cause_text(e: BaseException) -> str:
    seen: List[str] = []
    while e is not None and len(seen) < 5:
        seen.append(str(e))
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    return '\n'.join(seen)


def composition_error(e: BaseException, overrides: Sequence[str],
                      base: Optional[DictConfig]) -> str:
    r"""One line for a Hydra composition error :obj:`e` of
    :obj:`overrides`; :obj:`base` is the config composed without the
    key=value overrides (for key suggestions)."""
    text = _cause_text(e)
    first = text.strip().splitlines()[0] if text.strip() else repr(e)
    if 'hydra/sweeper/optuna' in first:
        return f"{first} (pip install 'rmbrec_pyg[optuna]')"
    m = (re.search(r"Could not override '([^']+)'", text) or
         re.search(r"Key '[^']+' not in '\w+'\s+full_key: (\S+)", text))
    if m:
        key = m.group(1)
        known = dotted_keys(base) if base is not None else []
        append = re.search(r'To append to your config use (\S+)', text)
        if append and key in known:  # a mapping: its new keys take a '+'
            return (f"'{key}' takes new keys with '+': "
                    f'{append.group(1)}, or +{key}.NAME=VALUE')
        return (f"unknown key '{key}'{suggestion(key, known)}; "
                f'list the keys with: rmbrec-train --cfg job')
    m = (re.search(r"Value '(.*)' of type '\w+' could not be converted to "
                   r'(\w+)', text) or
         re.search(r"Value '(.*)' is not a valid (bool)", text))
    if m:
        key = re.search(r'full_key: (\S+)', text)
        name = key.group(1) if key else '?'
        want = EXPECTED.get(m.group(2), m.group(2))
        return f"'{name}' expects {want} (got {m.group(1)!r})"
    return first


def unknown_keys(cfg: DictConfig, schemas: Any) -> List[str]:
    r"""Keys of the structured groups (``trainer``, ``loss``, ... of
    :obj:`schemas`, group -> (name, dataclass)) that their dataclass does
    not have, each with a suggestion: added with ``+group.key=value``,
    they would fail only when the run starts."""
    import dataclasses
    out = []
    for group, (_, schema) in schemas.items():
        node = cfg.get(group)
        if not isinstance(node, DictConfig):
            continue
        fields = {f.name for f in dataclasses.fields(schema)}
        for k in node.keys():
            if k not in fields:
                key = f'{group}.{k}'
                out.append(f"unknown key '{key}'" + suggestion(
                    key, [f'{group}.{f}' for f in fields]))
    return out


def base_config(argv: Sequence[str]) -> Optional[DictConfig]:
    r"""The config of :obj:`argv`'s group choices alone (``data=folder``,
    ...), for suggestions; :obj:`None` if even that does not compose."""
    from rmbrec_pyg.cli.builders import compose_config
    groups = [a for a in argv if '=' in a and '.' not in a.split('=')[0]
              and not a.startswith(('+', '~'))]
    try:
        return compose_config(groups)
    except Exception:
        return None
