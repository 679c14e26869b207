"""Kitchen timers kept by the appliance itself: pure bookkeeping (schedule), words for the model and the
speaker (words), an atomic state file (store), the running service with its ringing callback (service)
and the tools the model calls (tools)."""
