"""The fleet's health at a glance: the appliance's figures in the Prometheus text format (docs/fleet-metrics.md).

- :mod:`appliance.metrics.collector`: counters and a histogram fed by the event bus, gauges read when written;
- :mod:`appliance.metrics.textfile`: the file for node_exporter's textfile collector (the default, and why);
- :mod:`appliance.metrics.http`: an optional local /metrics endpoint (off by default);
- :mod:`appliance.metrics.fleet`: reading the files back, for ``scripts/deploy status`` (standard library only);
- :mod:`appliance.metrics.service`: all of it started from the settings.

Kept free of imports here: ``scripts/deploy`` imports :mod:`appliance.metrics.fleet` from the checkout.
"""
