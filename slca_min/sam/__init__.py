"""SAM's side, frozen: the encoder and its region descriptors (encoder.py), SAM's and MedSAM's preprocessing,
the five feature levels, checkpoints, faster attention, precisions, and the miniature SAM with its lesion scenes.

May import utils/ only.
"""
