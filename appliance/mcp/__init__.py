"""MCP servers as tool sets (issue #27): settings here, the sessions in :mod:`appliance.mcp.manager`.

Only :mod:`appliance.config.mcp` and :mod:`appliance.mcp.convert` are light; the manager imports the `mcp`
SDK and is imported only when servers are configured (memory matters on a Pi Zero).
"""
