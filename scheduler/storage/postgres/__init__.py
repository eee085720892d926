"""The PostgreSQL store: several daemons on several machines share one database (spec 8).

`store.PostgresStore` implements the `RunStore` seam; `connection` holds the URL, password
and error rules; `schema` the migrations; `cluster` the daemons table (liveness, fencing,
takeover, cancels across daemons).
"""
