"""Alembic migrations of the metadata store, run programmatically by :mod:`..migrate`.

Add a revision (after changing :mod:`loopml.store.sql.tables`)::

    alembic -c src/loopml/store/sql/migrations/alembic.ini revision --rev-id 0003 -m "what"

then write ``upgrade()``/``downgrade()`` by hand and add the id to
:data:`loopml.store.sql.migrate.KNOWN_REVISIONS` (and move ``HEAD_REVISION``).
"""
