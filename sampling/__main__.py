"""``python -m sampling``: see :mod:`sampling.cli`."""

from sampling.cli import main

raise SystemExit(main())
