"""The PostgreSQL store: several daemons on several machines share one database (spec 8).

`store.PostgresStore` implements the `RunStore` seam; `claims` holds the statements of a
claim (once across daemons, pause flags, jobs that keep their runs together); `session` the
connection that comes back by itself; `connection` the URL, password, keepalives and which
errors pass; `schema` the migrations; `daemons` the daemons table (liveness, fencing,
takeover, cancels across daemons); `columns` the values of the run columns.
"""
