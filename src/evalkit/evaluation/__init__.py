"""An evaluation: the spec, its data sources, the pipeline that runs it, the robust variant,
provenance, and collecting several schemes."""
