"""Benchmarks of cdfs against native tools, run on demand (``make bench``,
``python -m bench``), never by the test suite.  See BENCHMARKS.md."""
