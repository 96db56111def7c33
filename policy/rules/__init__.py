"""The rules of the pack, one module per concern; `policy.pack.POLICIES` lists them all."""
