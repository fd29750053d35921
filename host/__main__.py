"""`python -m host ...` (see host/cli.py)."""
import sys

from .cli import main

sys.exit(main())
