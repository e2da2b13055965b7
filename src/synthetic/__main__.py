"""``python -m synthetic --out data/sample``: write the bundled sample extract."""

from synthetic.bank import main

raise SystemExit(main())
