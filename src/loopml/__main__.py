"""``python -m loopml``: the same as the ``loopml`` command."""

import sys

from loopml.cli import main

sys.exit(main())
