"""The assistant: OpenAI Responses streaming, the tool registry and loop, and text made speakable.

Modules, one concept each: ``client`` (the configured SDK client and error classification), ``sentences``
(pure splitter), ``speakable`` (pure markdown-to-speech), ``tools`` (registry, schemas, validation, entry
points), ``builtin_tools`` (date/time, volume, stop, reset, describe_image) and ``responses`` (the turn).
"""
