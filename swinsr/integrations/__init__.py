"""Optional bridges to other frameworks (imported on demand; swinsr never needs them)."""
