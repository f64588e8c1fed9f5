"""Parquet files of a LeRobot dataset: frame rows, task table, and files replaced atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vlakit.io import atomic_path


def vector_column(values: np.ndarray) -> pa.FixedSizeListArray:
    """``float32`` ``[T, D]`` as a fixed-size list column (datasets' ``Sequence(float32, length=D)``)."""
    x = np.ascontiguousarray(values, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), int(x.shape[1]))


def column_array(table: pa.Table, name: str) -> np.ndarray:
    """Column ``name`` as numpy: ``[T]`` for scalars, ``[T, D]`` for list columns."""
    col = table.column(name).combine_chunks()
    if pa.types.is_fixed_size_list(col.type) or pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        flat = col.flatten().to_numpy(zero_copy_only=False)
        return flat.reshape(len(col), -1) if len(col) else flat.reshape(0, 0)
    return col.to_numpy(zero_copy_only=False)


def write_table(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` through a temporary file and a rename (never half written)."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def tasks_table(tasks: dict[int, str]) -> pa.Table:
    """``meta/tasks.parquet``: column ``task_index`` with the task text as the pandas index ``task``
    (how LeRobot writes it with pandas, so ``pd.read_parquet`` gives the same frame)."""
    order = sorted(tasks)
    table = pa.table(
        {"task_index": pa.array(order, pa.int64()), "task": pa.array([tasks[i] for i in order], pa.string())}
    )
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [
            {"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
             "metadata": {"encoding": "UTF-8"}}
        ],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64",
             "metadata": None},
            {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object",
             "metadata": None},
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.0",
    }
    return table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})
