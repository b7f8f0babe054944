from llmpulse.cli import main

raise SystemExit(main())
