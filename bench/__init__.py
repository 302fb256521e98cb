"""Load benchmark for Pepper: seeds two studios, serves each with uvicorn and loads it with wrk.

Run it with `python -m bench.run` (or `make bench`); see `bench/run.py` for the settings.
"""
