"""Notes: a Flask app on the PostgreSQL database toss gives each environment.

DATABASE_URL names this environment's own database, reached over the local socket as the
environment's own user (no password): production, and every preview on its own copy of the seed.
"""
import os
from contextlib import closing

import psycopg2
from flask import Flask, jsonify, request

app = Flask(__name__)


def query(sql, params=()):
    """Runs one statement in its own transaction and returns its rows."""
    with closing(psycopg2.connect(os.environ["DATABASE_URL"])) as conn:
        with conn, conn.cursor() as cur:  # commits, or rolls back on an error
            cur.execute(sql, params)
            return cur.fetchall()


@app.get("/health")
def health():
    # No database here: a slow database should not take the app out of its rotation.
    return "ok\n", 200, {"Content-Type": "text/plain"}


@app.get("/")
def list_notes():
    rows = query("SELECT id, body FROM notes ORDER BY id")
    return jsonify([{"id": note_id, "body": body} for note_id, body in rows])


@app.post("/notes")
def add_note():
    # The request's body is the note: curl --data-binary 'buy milk' …/notes
    # (or JSON: {"body": "buy milk"}).
    if request.is_json:
        body = (request.get_json(silent=True) or {}).get("body")
    else:
        body = request.get_data(as_text=True)
    if not isinstance(body, str) or not body.strip():
        return jsonify(error="send the note's text as the request body"), 400
    [(note_id, body)] = query("INSERT INTO notes (body) VALUES (%s) RETURNING id, body", (body,))
    return jsonify({"id": note_id, "body": body}), 201
