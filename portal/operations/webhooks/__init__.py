"""Webhooks: admins name an address and the events it hears; each event is signed and sent.

queueing.py writes an event's deliveries in the event's own transaction; delivery.py sends
them (public addresses only), for the worker and for an admin's test; editing.py is what
admins do. The package itself exports nothing: import from the module that does the job.
"""
