"""The assistant: OpenAI Responses streaming, its tool loop, and text made speakable.

Modules, one concept each: ``client`` (the configured SDK client and error classification), ``sentences``
(pure splitter), ``speakable`` (pure markdown-to-speech), ``answer`` (deltas to sentences or fragments,
the length cap), ``budget`` (the model's share of the turn's deadline), ``conversation`` (anchor and owed
outputs between turns), ``stream`` (the reading thread and its bounded queue), ``parsing`` (stream events
and call assembly), ``retrying`` (the retry loop) and ``responses`` (the turn). The tools live in
:mod:`appliance.tools`.
"""
