"""Modal dialogs: confirmations, the cap editor, key details, help, the restore review."""
