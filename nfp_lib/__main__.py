"""``python -m nfp_lib``: see :mod:`nfp_lib.cli`."""

import sys

try:
    from nfp_lib.cli import main
except KeyboardInterrupt:  # Ctrl-C while the libraries load
    print("nfp: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
