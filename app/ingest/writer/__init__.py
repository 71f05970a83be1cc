"""Batched, lossless writes of fixes into the day-partitioned ``position`` table.

Cut along its seams: ``batch_writer`` (the queue callers wait on, group commit), ``copy_encoder`` (binary
COPY rows, pure), ``flush`` (one transaction per batch, retries, replays, bisection) and
``last_updater`` (``target.last_*``, a derived cache applied after the commits). The names other modules
import live here.
"""

from app.ingest.writer.batch_writer import BatchWriter
from app.ingest.writer.copy_encoder import COLUMNS, copy_binary, copy_rows, ewkb_points
from app.ingest.writer.errors import is_data_error
from app.ingest.writer.last_updater import REPAIR_LAST, REPAIR_LAST_OF
from app.ingest.writer.stats import WriterStats

__all__ = ["COLUMNS", "REPAIR_LAST", "REPAIR_LAST_OF", "BatchWriter", "WriterStats", "copy_binary",
           "copy_rows", "ewkb_points", "is_data_error"]
