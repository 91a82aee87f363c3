from capit_tui.cli import main

raise SystemExit(main())
