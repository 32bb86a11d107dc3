"""Backups: ``pg_dump --format=custom`` streamed into a store, verified, listed, restored.

This package is the only user of pg_dump, pg_restore and psql (through
:mod:`orchestrator.pgtools`) and of S3 and the local backup directory.  Its modules, from
the bottom up (each imports only those above it in this list):

* :mod:`.manifest`: :class:`BackupInfo` and its manifest ``<name>.dump.json``; backup names.
* :mod:`.store`: the :class:`Store` interface (and the :class:`~.store.Sink` a dump is
  written to), with what its implementations share.
* :mod:`.local`, :mod:`.s3`: a directory, an S3 bucket (the only boto3 user).
* :mod:`.stream`: pg_dump's output in parts into a sink, memory bounded.
* :mod:`.clients`: the client program that fits the server.
* :mod:`.catalog`: :func:`open_store`, :func:`list_backups`, :func:`find_backup`.
* :mod:`.create`: :func:`create_backup`.
* :mod:`.restoring`: :func:`restore` (all or nothing) and :func:`locate`.

Other modules use the names below, as ``backup.create_backup(...)``.
"""

from __future__ import annotations

from .catalog import find_backup, list_backups, open_store
from .create import create_backup
from .local import DEFAULT_LOCAL, LocalStore
from .manifest import BackupInfo, sibling, stamp
from .restoring import RESTORE_PREAMBLE, locate, restore
from .s3 import S3Store
from .store import MiB, Store

__all__ = [
    "DEFAULT_LOCAL",
    "RESTORE_PREAMBLE",
    "BackupInfo",
    "LocalStore",
    "MiB",
    "S3Store",
    "Store",
    "create_backup",
    "find_backup",
    "list_backups",
    "locate",
    "open_store",
    "restore",
    "sibling",
    "stamp",
]
