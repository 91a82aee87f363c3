"""Modal dialogs: confirmations, the cap editor, key and agent details, help, adding a platform, the restore
review."""
