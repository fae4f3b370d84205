"""Who really has access: syncing flag snapshots, evaluating every account, diffs, drift and the support lookup. No Qt."""
