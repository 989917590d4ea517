"""`python -m tools.models [NAME]`: print the local folder of a model (the Makefile's `make model`)."""

from tools.models.resolve import main

raise SystemExit(main())
