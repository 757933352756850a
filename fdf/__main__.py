import sys

from fdf.cli import main

sys.exit(main())
