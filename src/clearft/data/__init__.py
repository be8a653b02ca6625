"""Reading and writing fine-tuning data in the file types and record formats trainers use.

    ds = open_dataset("train.jsonl")            # file type and record format detected
    for example in ds: ...                       # streams Examples; bad records raise or go aside
    write_records("fixed.jsonl", records)        # atomic; every column kept

Heavy libraries (`datasets`) are imported only when a `datasets` folder is read or written.
"""

from __future__ import annotations

from clearft.data.dataset import Dataset, open_dataset
from clearft.data.example import Example
from clearft.data.filetypes import FILE_TYPES, detect_file_type
from clearft.data.formats import FORMATS, RecordFormat, detect_format
from clearft.data.ids import content_id
from clearft.data.options import DataOptions
from clearft.data.writers import write_records

__all__ = [
    "FILE_TYPES",
    "FORMATS",
    "DataOptions",
    "Dataset",
    "Example",
    "RecordFormat",
    "content_id",
    "detect_file_type",
    "detect_format",
    "open_dataset",
    "write_records",
]
