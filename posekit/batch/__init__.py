"""Many sources on Ray: ``posekit batch``.

- :mod:`.inputs`: files, folders, globs and text files of paths -> sources;
- :mod:`.manifest`: ``DIR/manifest.json``, each source's status, content and config hash;
- :mod:`.table`: the one Parquet table (a part per source) under ``DIR/poses.parquet/``;
- :mod:`.worker`: one source through the pipeline (no Ray in it);
- :mod:`.runner`: the Ray actors, retries, resumption and progress (:func:`run_batch`);
- :mod:`.chunks`: long videos in overlapping chunks, track IDs stitched;
- :mod:`.cli`: the ``posekit batch`` command.

Ray and pyarrow are the ``batch`` extra (``pip install 'posekit[batch]'``) and are imported only
when a batch runs.
"""

from .inputs import BatchSource, expand_inputs, unique_names
from .manifest import Manifest, config_hash, content_hash
from .runner import BatchProgress, BatchResult, run_batch
from .table import TABLE_DIR, jsonl_to_table, read_table
from .worker import ModelCache, batch_config, batch_defaults, process_source

__all__ = ["TABLE_DIR", "BatchProgress", "BatchResult", "BatchSource", "Manifest",
           "ModelCache", "batch_config", "batch_defaults", "config_hash", "content_hash",
           "expand_inputs", "jsonl_to_table", "process_source", "read_table", "run_batch",
           "unique_names"]
