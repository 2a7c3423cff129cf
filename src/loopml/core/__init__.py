"""Layer 1: entities, typed ids, the error tree, hashing, settings and the clock.

Standard library only and no I/O beyond reading configuration; every other layer builds on it.
"""
