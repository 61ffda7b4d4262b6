"""Helpers every other folder uses: atomic files, run folders and the stand-ins' cache paths (files.py), torchrun (distributed.py).

Imports nothing from slca_min.
"""
