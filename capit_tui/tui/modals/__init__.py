"""Modal dialogs: confirmations, the cap editor, key details, help, adding a platform, the restore review."""
