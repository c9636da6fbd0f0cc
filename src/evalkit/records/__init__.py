"""From patient-level records to analysis panels, on DuckDB by default and on Spark.

One declarative definition per measure (:mod:`~evalkit.records.measures`) is compiled to
one portable SQL dialect (:mod:`~evalkit.records.sql`) that DuckDB and Spark SQL both run
(:mod:`~evalkit.records.engines`); :func:`aggregate` turns registrations, events and deaths
into one row per practice and month, checked for bad input first
(:mod:`~evalkit.records.checks`). A pandas reading of the same definitions
(:mod:`~evalkit.records.reference`) and a synthetic generator with its panel-level truth
(:mod:`~evalkit.records.generate`) are there to test it. See ``docs/records.md``.
"""

from evalkit.records.aggregate import RecordsResult, aggregate, aggregate_command, write_outputs
from evalkit.records.checks import RecordsError, RecordsReport, check_records
from evalkit.records.engines import DuckDBEngine, SparkEngine, make_engine, spark_available
from evalkit.records.generate import GeneratedRecords, generate_records, standard_measures
from evalkit.records.measures import (
           Cohort,
           Measure,
           RecordsSpec,
           Source,
           load_records_spec,
           records_spec,
)
from evalkit.records.reference import reference_aggregate
from evalkit.records.sql import Plan, Step, compile_plan

__all__ = ["aggregate", "aggregate_command", "RecordsResult", "write_outputs",
           "RecordsError", "RecordsReport", "check_records", "DuckDBEngine", "SparkEngine",
           "make_engine", "spark_available", "GeneratedRecords", "generate_records",
           "standard_measures", "Cohort", "Measure", "RecordsSpec", "Source",
           "load_records_spec", "records_spec", "reference_aggregate", "Plan", "Step",
           "compile_plan"]
