import sys

from yamlgraph.cli import main

sys.exit(main())
