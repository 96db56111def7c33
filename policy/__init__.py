"""The CrossGuard policy pack (DESIGN.md section 6).

`pulumi preview --policy-pack policy` runs `policy/__main__.py`, which only builds the
`PolicyPack`; the rules live in `policy.rules` and are listed in `policy.pack`, so
`python -m tools check` can import and run the same objects without starting a server.
"""
