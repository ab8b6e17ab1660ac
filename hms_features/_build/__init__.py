"""The parts of :func:`hms_features.build.build_features`, one concern per module.

* :mod:`.plan` -- what to compute: the inputs checked, the families and columns, the chunks
  (each a worker function, its arguments, its size and the hash of its inputs).
* :mod:`.chunks` -- what one chunk computes: preprocessing, window cutting, shared spectra,
  features (the workers the plan names).
* :mod:`.cache` -- finished chunks as parquet files (key, read, atomic write).
* :mod:`.run` -- executing the chunks not in the cache with joblib or Dask, with a progress bar.
"""
