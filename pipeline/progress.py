"""Progress lines for long loops, written through logging so DVC and CI logs keep them."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def logged(items: Iterable[T], total: int, what: str, logger: logging.Logger) -> Iterator[T]:
    """Yield items, logging "what: done/total" about every tenth; small inputs log only the end."""
    step = max(total // 10, 200)
    done = 0
    for item in items:
        yield item
        done += 1
        if done % step == 0 or done == total:
            logger.info("%s: %d/%d", what, done, total)
