"""`python -m prestage`: the same command as `prestage` (prestage.cli, docs/cli.md)."""
from prestage.cli import main

raise SystemExit(main())
