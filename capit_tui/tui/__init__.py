"""The full-screen Textual app: app.py, screens/, modals/, newkey/ (form, review, result), widgets/."""
