import sys

from kequn.cli import main

sys.exit(main())
