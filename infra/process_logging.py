"""Logging of the long-running commands (`sportcast up`, `sportcast serve ...`).

Without a handler Python prints only warnings, so the INFO lines the services write (which path
serves the event store's reads and writes and why, a forecaster's rebuild and champion switches,
NATS connection changes) were never seen. Here one handler on the root logger writes to stderr,
one human-readable line per record: our loggers (``sportcast.*``) at ``SPORTCAST_LOG_LEVEL`` (the
level uvicorn's own loggers take too), the libraries' at WARNING (httpx, for one, logs every
request at INFO). The refused-input log (``sportcast.refusals``) stays what it is: one JSON
document per line, with nothing around it, so a log shipper can parse it as it stands.
"""

from __future__ import annotations

import logging
import sys

OURS = "sportcast"
REFUSALS = "sportcast.refusals"
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_MARK = "_sportcast_handler"  # on the handlers added here, so a second call adds none


class UnknownLogLevel(ValueError):
    code = "log-level-unknown"


def configure_logging(level: str) -> None:
    """Write log records at ``level`` and above to stderr (text), refusals as bare JSON lines.
    Calling it again only changes the level."""
    number = logging.getLevelName(level.upper())
    if not isinstance(number, int):
        raise UnknownLogLevel(
            f"SPORTCAST_LOG_LEVEL={level!r} is not a level: use DEBUG, INFO, WARNING or ERROR"
        )
    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    _attach(root, logging.Formatter(TEXT))
    logging.getLogger(OURS).setLevel(number)
    refusals = logging.getLogger(REFUSALS)
    refusals.propagate = False  # its lines are JSON documents, not text lines with a prefix
    _attach(refusals, logging.Formatter("%(message)s"))


def _attach(logger: logging.Logger, formatter: logging.Formatter) -> None:
    if any(getattr(handler, _MARK, False) for handler in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    setattr(handler, _MARK, True)
    logger.addHandler(handler)
