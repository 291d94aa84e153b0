#!/usr/bin/env python3
"""Django's manage.py for a source checkout; installed, the `polls` command does the same."""
import sys

from polls.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
