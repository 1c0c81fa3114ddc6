"""The parts of bench/ingest.py (the entry point, which has the full description): config (arguments and
isolation, before Django starts), fleet, measure, direct (1a, 1b), server (1c), latency (2), report.
"""
