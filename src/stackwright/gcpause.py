"""``gc_paused()``: no cyclic garbage collection for the length of a block.

For work that allocates many objects and makes no garbage cycles (loading a project, turning a
plan into a policy's input): a collection meanwhile only traverses every live object again,
and with a large heap (a 5,000-resource project) these passes cost more than the work itself.
Reference counting still frees everything as usual; collection resumes after the block.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


__all__ = ["gc_paused"]
