"""The full-screen Textual app: app.py, screens/, modals/, newkey/ (form, review, result), widgets/;
typed_app.py, spend_bar.py and table_nav.py are helpers, not widgets."""
