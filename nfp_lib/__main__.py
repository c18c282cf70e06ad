"""``python -m nfp_lib``: see :mod:`nfp_lib.cli`."""

import sys

from nfp_lib.cli import main

sys.exit(main())
