"""Segmentation (客群分层): value tiers, asset tiers, RFM, product preference, clusters.

- :mod:`segmentation.value_tiers` -- strategic / value / basic on the Pareto curve, 80/20
- :mod:`segmentation.asset_tiers` -- large / medium / small by asset balance
- :mod:`segmentation.rfm` -- tie-aware RFM scores and the named R x F segments
- :mod:`segmentation.preference` -- deposit-led / loan-led / fee-led / balanced
- :mod:`segmentation.clusters` -- k-means behavioural clusters with stable ids and names
- :mod:`segmentation.migration` -- tier upgrades and downgrades against a baseline
- :mod:`segmentation.segment` -- :func:`segment_customers`, all of the above in one call
- :mod:`segmentation.stage` -- ``python -m kequn segment``
"""

from segmentation.segment import SegmentationResult, join_inputs, segment_customers

__all__ = ["SegmentationResult", "join_inputs", "segment_customers"]
