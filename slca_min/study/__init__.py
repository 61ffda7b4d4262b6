"""The study machinery: fit (experiments.py), the low-data comparison and its controls (comparison.py),
linear and k-NN probes, paired statistics and figures.

May import everything below it (the model, sam/, data/, pipeline/, utils/). Never imports cli/.
"""
