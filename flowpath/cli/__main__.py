import sys

from flowpath.cli import main

sys.exit(main())
