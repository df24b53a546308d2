"""Batch scoring on Apache Spark: `sentiment score INPUT OUTPUT` runs the champion that serves online over a corpus.

pyspark is an optional dependency (the `spark` extra, 478 MB): nothing outside this package imports it, and the
package itself imports it only inside the functions that need it, so `sentiment --help` and every stage stay fast.
"""
