"""Django's PostgreSQL backend, reading ``timestamptz`` values with psycopg's compiled
loader (see ``base.py``). Selected in the settings for PostgreSQL databases."""
