"""The digit classifier service: app.main.create_app() is the WSGI app (gunicorn)."""
