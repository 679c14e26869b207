"""The device's own commands, answered without the model: templates (``en.yaml``), the strict matcher, and
carrying a command out with the same tools the model calls."""
