"""Loaded by `schemathesis run` (SCHEMATHESIS_HOOKS): a compatibility shim, nothing about the API.

hypothesis-jsonschema 0.23.1 (pinned) drives ``hypothesis...utils.many`` through ``more()``, which the pinned
hypothesis 6.170 replaced by iteration (``with many(...) as e: for _ in e:``); without this every object
schema fails to generate with "'many' object has no attribute 'more'". ``more()`` is rebuilt on top of the
new protocol: enter on the first call, one step of the iterator per call, exit when it is exhausted.
"""

from hypothesis.internal.conjecture import utils as _cu


def _more(self) -> bool:
    steps = self.__dict__.get("_compat_steps")
    if steps is None:
        self.__enter__()
        steps = self._compat_steps = iter(self)
    try:
        next(steps)
        return True
    except StopIteration:
        self.__exit__(None)
        return False


if not hasattr(_cu.many, "more"):
    _cu.many.more = _more
