"""Synthetic data sources with a known generative truth: the bundled sample extract.

A data source of its own, not core code: no pipeline stage imports it. ``python -m synthetic
--out data/sample`` writes the sample (:mod:`synthetic.bank`); tests use the truth it plants
to check that the models recover it.
"""
