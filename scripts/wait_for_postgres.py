"""Exit 0 if the PostgreSQL server named on the command line answers within a few seconds."""

import sys
import time

import psycopg

url = sys.argv[1]
for _ in range(10):
    try:
        psycopg.connect(url, connect_timeout=2).close()
        sys.exit(0)
    except psycopg.OperationalError:
        time.sleep(0.5)
sys.exit(1)
