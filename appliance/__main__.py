from appliance.host.cli import main

raise SystemExit(main())
