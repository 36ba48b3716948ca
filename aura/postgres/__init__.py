"""PostgreSQL for Aura: the unit of work that the durable stores run on (extra ``postgres``).

Needs psycopg 3 and psycopg-pool (``pip install 'aura-modulith[postgres]'``); nothing of the
runtime imports this package. :class:`PostgresDatabase` has the interface of
:class:`aura.database.Database` (``?`` placeholders, nestable transactions, ``on_commit``), plus
``LISTEN``/``NOTIFY`` (:meth:`PostgresDatabase.notify`, :meth:`PostgresDatabase.listen`).
"""

from __future__ import annotations

from aura.postgres.database import PostgresDatabase, StatementResult, mask_password, translate

__all__ = ["PostgresDatabase", "StatementResult", "mask_password", "translate"]
