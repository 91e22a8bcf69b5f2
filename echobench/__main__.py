import sys

from echobench._cli import main

sys.exit(main())
