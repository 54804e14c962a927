import sys

from ct_producer._cli import main

sys.exit(main())
