"""The metadata store on SQLAlchemy 2 (Core) and Alembic, for SQLite and PostgreSQL.

- :mod:`.tables`: the schema; :mod:`.migrations`: how stores get there;
  :mod:`.migrate`: checks and upgrades a store on open.
- :mod:`.engine`: URLs, connection setup, write transactions with retries.
- :mod:`.compile`: typed run queries to SQL (the only place).
- :mod:`.mapper`: rows to entities and back.
- :mod:`.tracking_store`: :class:`SqlTrackingStore`; :mod:`.dataset_store`:
  :class:`SqlDatasetStore`; :mod:`.model_store`:
  :class:`SqlModelStore`; :mod:`.evaluation_store`: :class:`SqlEvaluationStore`;
  :mod:`.label_store`: :class:`SqlLabelStore` (delayed labels);
  :mod:`.monitor_result_store`: :class:`SqlMonitorResultStore`;
  :mod:`.deployment_store`: :class:`SqlDeploymentStore` (deployment records and changes);
  :mod:`.loop_store`: :class:`SqlLoopStore` (the automation agent's runs, leases, steps;
  its rows in :mod:`.loop_rows`);
  :mod:`.token_store`: :class:`SqlTokenStore` (API tokens, hashed);
  :mod:`.event_store`: :class:`SqlEventStore` (and
  :func:`~.event_store.insert_event`, which other stores call to write an event in their own
  transaction). They share one :class:`~.engine.StoreEngine` per database
  (:func:`~.migrate.open_store_engine`).
"""

from loopml.store.sql.dataset_store import SqlDatasetStore
from loopml.store.sql.deployment_store import SqlDeploymentStore
from loopml.store.sql.evaluation_store import SqlEvaluationStore
from loopml.store.sql.event_store import SqlEventStore
from loopml.store.sql.label_store import SqlLabelStore
from loopml.store.sql.loop_store import SqlLoopStore
from loopml.store.sql.model_store import SqlModelStore
from loopml.store.sql.monitor_result_store import SqlMonitorResultStore
from loopml.store.sql.token_store import SqlTokenStore
from loopml.store.sql.tracking_store import SqlTrackingStore

__all__ = [
    "SqlDatasetStore",
    "SqlDeploymentStore",
    "SqlEvaluationStore",
    "SqlEventStore",
    "SqlLabelStore",
    "SqlLoopStore",
    "SqlModelStore",
    "SqlMonitorResultStore",
    "SqlTokenStore",
    "SqlTrackingStore",
]
