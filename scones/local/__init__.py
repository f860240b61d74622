"""The local runtime: the synthesized stacks, the real Lambda handlers and the real model, on one machine."""
