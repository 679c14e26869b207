"""Speech to text: providers chosen by name (``stt.provider``), batch upload and streaming."""
