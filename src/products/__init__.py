"""Next best product (产品适配 / 交叉销售): who takes up which product line next.

- :mod:`products.takeup` -- lines held, first use of a line (the label), features at a cut-off
- :mod:`products.model` -- one classifier per line, the naive baselines, the ranking metrics
- :mod:`products.backtest` -- the rolling temporal backtest and the model choice
- :mod:`products.scoring` -- the production fit, the value of a take-up, the recommendation
- :mod:`products.stage` -- ``python -m kequn products``
"""
