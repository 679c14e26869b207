"""Tools the model may call: plain Python functions with a JSON schema for their arguments.

One concept per module, imported in this order (each only uses the ones before it, so there is no cycle):
``validation`` (the schema subset's validator), ``tool`` (:class:`Tool`, its errors and outputs),
``schema`` (a Tool built from type hints and the docstring, made strict), ``registry`` (by name, plus
entry-point plugins), ``runner`` (parallel execution with timeouts and cancel) and ``builtin`` (date/time,
volume, stop, reset, describe_image).
"""

from appliance.tools.builtin import default_registry, register_builtin_tools
from appliance.tools.registry import ENTRY_POINT_GROUP, ToolRegistry, tool
from appliance.tools.schema import make_strict, parse_docstring, schema_for_type
from appliance.tools.tool import BadToolCall, Tool, ToolError, ToolOutput, ToolRegistrationError, normalize_output
from appliance.tools.validation import validate

__all__ = [
    "ENTRY_POINT_GROUP",
    "BadToolCall",
    "Tool",
    "ToolError",
    "ToolOutput",
    "ToolRegistrationError",
    "ToolRegistry",
    "default_registry",
    "make_strict",
    "normalize_output",
    "parse_docstring",
    "register_builtin_tools",
    "schema_for_type",
    "tool",
    "validate",
]
