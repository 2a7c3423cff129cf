"""Layer 3, data: dataset versions (content-addressed Parquet), schema and profile, validation
of new batches, reproducible splits, diffs and lineage. :class:`DatasetService` is the entry
point the SDK (``loopml.datasets``) and the CLI (``loopml data``) call.
"""

from loopml.data.service import DatasetService, validate_batch

__all__ = ["DatasetService", "validate_batch"]
