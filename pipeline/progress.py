"""Log lines: progress for long loops, and URIs with their credentials masked, so DVC and CI logs keep the one and
never the other."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

# scheme://userinfo@ : the userinfo runs to the last "@" before the path, so a password with a raw "@" is masked whole.
URI_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s'\"<>]*)@")
MASK = "***"


def logged(items: Iterable[T], total: int, what: str, logger: logging.Logger) -> Iterator[T]:
    """Yield items, logging "what: done/total" about every tenth; small inputs log only the end."""
    step = max(total // 10, 200)
    done = 0
    for item in items:
        yield item
        done += 1
        if done % step == 0 or done == total:
            logger.info("%s: %d/%d", what, done, total)


class Progress:
    """Log lines for work measured in units of a known total (bytes of a corpus, say): what is done, and when the
    rest should be, at most one line every `every_s` seconds, so a long fit says where it is without flooding logs.

    The estimate assumes the rest goes at the average rate so far, which holds for a stream of similar chunks.
    """

    def __init__(self, what: str, total: float, logger: logging.Logger, every_s: float = 10.0) -> None:
        self.what, self.total, self.logger, self.every_s = what, total, logger, every_s
        self.started = self.last = time.monotonic()

    def update(self, done: float, detail: str, *, final: bool = False) -> None:
        """`done` units of `total`; `detail` says what they are ("120,000 documents counted, 24 chunks")."""
        now = time.monotonic()
        if not final and now - self.last < self.every_s:
            return
        self.last = now
        elapsed = now - self.started
        share = min(done / self.total, 1.0) if self.total > 0 else 1.0
        left = elapsed * (1 - share) / share if share > 0 else float("nan")
        self.logger.info(
            "%s: %s, %.0f%% in %s, about %s left", self.what, detail, 100 * share, duration(elapsed), duration(left)
        )


def duration(seconds: float) -> str:
    """A short human duration: 42s, 3m05s, 1h02m; "?" when not known."""
    if seconds != seconds:  # NaN: nothing done yet to estimate from
        return "?"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def mask_uri_secrets(text: str) -> str:
    """`http://user:pass@host` -> `http://user:***@host`; `https://token@host` -> `https://***@host`.

    A URI's userinfo is where MLflow, DVC remotes and registries take credentials from, and a log line is read by
    more people than own the secret. A user name alone is a token often enough (GitHub, GitLab) to mask it too.
    """

    def masked(match: re.Match[str]) -> str:
        user, colon, _ = match["userinfo"].partition(":")
        return f"{match['scheme']}{f'{user}:{MASK}' if colon else MASK}@"

    return URI_USERINFO.sub(masked, text)


class MaskingRecordFactory:
    """Makes log records as the factory before it did, with URI credentials masked in message, traceback and stack.

    A record factory, not a handler's filter or formatter, because MLflow logs through a handler of its own that
    does not propagate to the root logger's: this sees every record of the process, whoever handles it.
    """

    tracebacks = logging.Formatter()

    def __init__(self, previous: Callable[..., logging.LogRecord]) -> None:
        self.previous = previous

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed logging call: the handler reports it when it emits the record, as before
            return record
        if (masked := mask_uri_secrets(message)) != message:
            record.msg, record.args = masked, ()
        if record.exc_info:
            # Formatters reuse exc_text once it is set, so the traceback is formatted (and masked) once, here.
            record.exc_text = mask_uri_secrets(self.tracebacks.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = mask_uri_secrets(record.stack_info)
        return record


def mask_uri_secrets_in_logs() -> None:
    """Install MaskingRecordFactory for the whole process; a second call changes nothing."""
    current = logging.getLogRecordFactory()
    if not isinstance(current, MaskingRecordFactory):
        logging.setLogRecordFactory(MaskingRecordFactory(current))
