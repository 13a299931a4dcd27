"""Code that runs inside execution environments: Roost's lean Python runtime client.

Everything here uses the standard library only, because it is imported by the
function's interpreter, not by Roost's.
"""
