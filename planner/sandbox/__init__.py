"""The sandbox gateway: a real HTTP server implementing the gateway API contract.

Never imported by the core (environment, validation, diff, plan, render).
"""
