"""Kequn (客群): what the stage packages share.

- :mod:`kequn.config`  -- reading ``params.yaml`` and resolving ``as_of``
- :mod:`kequn.io`      -- atomic writes (temp file, then rename) for every output
- :mod:`kequn.errors`  -- :class:`UserError`, the one-line error for a user's mistake
- :mod:`kequn.log`     -- stage logging with timings, progress on a terminal
- :mod:`kequn.labels`  -- English and Chinese names of tiers, segments and warning levels
- :mod:`kequn.cli`     -- ``python -m kequn <stage>``, the entry point ``dvc.yaml`` calls
"""

__version__ = "0.1.0"
