"""A Flask app as toss runs it under gunicorn: one page, /up for the health check and /visits,
a counter kept in a file of the working directory (the release)."""
import fcntl
import os
from datetime import datetime, timezone

from flask import Flask

# Like a pid file or a warmed cache: written when a worker loads the app, so a release the app
# cannot write in fails its deploy's health check instead of its first visitor.
os.makedirs("tmp", exist_ok=True)
with open("tmp/boot.log", "a", encoding="utf-8") as log:
    log.write(f"{datetime.now(timezone.utc).isoformat()} pid {os.getpid()}\n")

app = Flask(__name__)


@app.get("/")
def home():
    return '<h1>Hello from Flask</h1>\n<p><a href="/visits">visits</a></p>\n'


@app.get("/up")
def up():
    return "ok\n", 200, {"Content-Type": "text/plain"}


@app.get("/visits")
def visits():
    # Gunicorn's workers are processes: one visit at a time counts, whichever worker has it.
    with open("tmp/visits.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        count = count_visit()
    return f"visits: {count}\n", 200, {"Content-Type": "text/plain"}


def count_visit():
    try:
        with open("tmp/visits.txt", encoding="utf-8") as counter:
            count = int(counter.read()) + 1
    except FileNotFoundError:
        count = 1
    # A new file renamed over the old one: a reader never sees it half written.
    with open("tmp/visits.txt.new", "w", encoding="utf-8") as counter:
        counter.write(f"{count}\n")
    os.replace("tmp/visits.txt.new", "tmp/visits.txt")
    return count
