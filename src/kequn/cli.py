"""``python -m kequn <stage>``: the thin entry point every ``dvc.yaml`` stage calls.

Each stage package has a ``stage`` module with ``run(params: dict) -> None`` that reads
its inputs, calls the package's pure functions and writes its outputs atomically. The
parameter file is validated against :mod:`kequn.settings` first. A
:class:`~kequn.errors.UserError` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from kequn.config import load_params
from kequn.errors import UserError
from kequn.log import get_logger
from kequn.settings import settings_from

#: stage name in dvc.yaml -> package that implements it
STAGES = {
    "ingest": "ingest",
    "features": "features",
    "ltv": "ltv",
    "churn": "churn",
    "segment": "segmentation",
    "products": "products",
    "evaluate": "evaluation",
    "targets": "targeting",
    "report": "reporting",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kequn", description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=sorted(STAGES), help="pipeline stage to run")
    parser.add_argument("--params", default="params.yaml", help="parameter file (params.yaml)")
    args = parser.parse_args(argv)
    log = get_logger(args.stage)
    start = time.perf_counter()
    try:
        params = load_params(args.params)
        settings_from(params)  # every key checked before any stage work: one line per problem
        module = importlib.import_module(f"{STAGES[args.stage]}.stage")
        module.run(params)
    except UserError as exc:
        print(f"kequn {args.stage}: error: {exc}", file=sys.stderr)
        return 2
    log.info("stage %s finished in %.1f s", args.stage, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
