"""Data: IDX files, the datasets (embedded mnist-mini, downloads, directories), mini-batches, block reads.

``idx`` → ``datasets`` (load_mnist, open_dataset) → ``batches`` (which samples, and taking them) →
``blockio`` (reading files larger than memory); ``pixels`` is the one uint8 → float scaling they share.
"""

from ..errors import DatasetChangedError, DatasetUnavailableError
from .batches import BatchLoader, BatchSampler
from .blockio import iter_chunks
from .datasets import Dataset, load_mnist, open_dataset
from .idx import read_idx, write_idx
from .pixels import pixels_to_float

__all__ = ["BatchLoader", "BatchSampler", "iter_chunks", "Dataset", "DatasetUnavailableError", "DatasetChangedError",
           "load_mnist", "open_dataset", "read_idx", "write_idx", "pixels_to_float"]
