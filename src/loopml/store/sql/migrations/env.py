"""Alembic environment of the metadata store.

loopml runs migrations in code (:mod:`loopml.store.sql.migrate`) and passes an open
connection, already inside the transaction that will hold the whole upgrade, in
``config.attributes["connection"]``. From the ``alembic`` command line (developers), the
database comes from ``sqlalchemy.url`` in ``alembic.ini`` or else from the loopml settings.
"""

from __future__ import annotations

from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context

from loopml.store.sql.tables import include_object_on, metadata


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object_on(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_from_command_line() -> None:
    from loopml.core.settings import resolve_settings
    from loopml.store.sql.engine import StoreEngine

    config = context.config
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    url = config.get_main_option("sqlalchemy.url") or resolve_settings().db_url
    store_engine = StoreEngine(url)
    try:
        with store_engine.connect(write=True) as connection, connection.begin():
            _run(connection)
    finally:
        store_engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    _given = context.config.attributes.get("connection")
    if _given is not None:
        _run(_given)
    else:
        _run_from_command_line()
